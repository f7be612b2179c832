-- TixMo's functions inside Postgres (pg/tixmo_pg.c), declared in schema public of one database.
-- C functions can only be declared by a superuser, so the scripts run this as postgres, after
-- scripts/pg-bootstrap.sql and before migrating (scripts/lib.sh: tix_pg_functions):
--   psql -v lib=/path/to/build/pg/tixmo_pg.so -d DATABASE -f scripts/pg-functions.sql
-- Idempotent: CREATE OR REPLACE each time, so a rebuilt module's path is taken up at once.
\set ON_ERROR_STOP on

-- tix_hits: an event search's page, total and facets in one pass (gateway/search_sql.c).
CREATE OR REPLACE FUNCTION public.tix_hits_step(internal, float8, float8, timestamptz, uuid,
                                                text, text, text, int4, int4)
    RETURNS internal AS :'lib', 'tix_hits_step' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION public.tix_hits_final(internal)
    RETURNS json AS :'lib', 'tix_hits_final' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE OR REPLACE AGGREGATE public.tix_hits(float8, float8, timestamptz, uuid, text, text, text,
                                            int4, int4) (
    SFUNC = public.tix_hits_step, STYPE = internal, FINALFUNC = public.tix_hits_final,
    FINALFUNC_MODIFY = READ_WRITE);
