-- 004_search.sql - trigram matching for the search read model (projections/search.c)
--
-- pg_trgm gives similarity(), the % operator and gin_trgm_ops: typo-tolerant matching of event
-- names and autocomplete. It is a trusted extension, so the database owner (who runs the
-- migrations) may create it. It lives in schema public, which stays on every projection's
-- search_path.

CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
