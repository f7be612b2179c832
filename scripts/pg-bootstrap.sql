-- Roles and database for TixMo; idempotent (run at every start by scripts/lib.sh, and by the
-- postgres container of compose.yaml on its first start). Run as a superuser with psql.
-- tixmo_owner owns the database and runs the migrations; tixmo_app is the application.
-- No passwords: dev/test servers trust loopback connections.
SELECT format('CREATE ROLE %I LOGIN', r)
  FROM unnest(ARRAY['tixmo_owner', 'tixmo_app']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
SELECT 'CREATE DATABASE tixmo OWNER tixmo_owner ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'tixmo') \gexec
