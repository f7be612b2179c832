-- 005_geo.sql - great-circle distance for searches near a point (gateway/search_sql.c)
--
-- tix_distance_km(lat1, lon1, lat2, lon2): the haversine distance in kilometres on a sphere of
-- radius 6371.0088 km (the mean Earth radius), degrees in; NULL when any input is NULL. Plain SQL
-- (no extension), IMMUTABLE so the planner inlines it. Callers cut candidates to a bounding box
-- on indexed lat/lon columns first and only then compute this. The clamp keeps asin's argument
-- in its domain despite rounding.
CREATE OR REPLACE FUNCTION public.tix_distance_km(lat1 double precision, lon1 double precision,
                                                  lat2 double precision, lon2 double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 2 * 6371.0088 * asin(least(1.0, sqrt(
    sin(radians(lat2 - lat1) / 2) ^ 2
    + cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lon2 - lon1) / 2) ^ 2)));
