-- 010_search_prices.sql - ticket prices in the search read model (projections/search.c,
-- gateway/search_sql.c)
--
-- tix_tier_price(price_minor, tiers, at): what a ticket type asks at instant `at`, by date: the
-- price of the first step of its tiers (docs/sale.md) whose `until` is absent or after `at`, else
-- its own price_minor. A step's `until_sold` is not looked at (search does not follow sales):
-- such a step counts as open until its date, if it has one.
--
-- tix_tier_until(tiers, at): the `until` of that step (the instant the price changes by date);
-- NULL when the price no longer changes by date.
--
-- tix_price_buckets(prices): the search's price buckets that prices fall in, as bits, prices in
-- minor units of a currency with two decimals: bit 0 free (0), bit 1 under 20 (1..1999), bit 2
-- 20 to 50 (2000..4999), bit 3 50 to 100 (5000..9999), bit 4 100 and over (10000 and more).
-- gateway/search_sql.c names the bits; docs/openapi.yaml documents them.
--
-- tix_search_prices_now(event_id): the distinct current prices, now, of the event's visible ticket
-- types in the search read model (rm.search_ticket_types, projections/search.c): what a search
-- uses for a hit whose stored prices are past their prices_until. PL/pgSQL, so the view may be
-- made after this function, and the planner costs a call as one call, not as a subquery per row.
--
-- STABLE, not IMMUTABLE: a text to timestamptz cast is. NULL tiers are no tiers.
CREATE OR REPLACE FUNCTION public.tix_tier_price(price_minor bigint, tiers jsonb, at timestamptz)
RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
RETURN COALESCE((SELECT (s->>'price_minor')::bigint
                 FROM jsonb_array_elements(COALESCE(tiers, '[]'::jsonb)) WITH ORDINALITY AS x(s, i)
                 WHERE s->>'until' IS NULL OR (s->>'until')::timestamptz > at
                 ORDER BY i LIMIT 1), price_minor);

CREATE OR REPLACE FUNCTION public.tix_tier_until(tiers jsonb, at timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (SELECT (s->>'until')::timestamptz
        FROM jsonb_array_elements(COALESCE(tiers, '[]'::jsonb)) WITH ORDINALITY AS x(s, i)
        WHERE s->>'until' IS NULL OR (s->>'until')::timestamptz > at
        ORDER BY i LIMIT 1);

CREATE OR REPLACE FUNCTION public.tix_price_buckets(prices bigint[])
RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (SELECT COALESCE(bit_or(1 << CASE WHEN p = 0 THEN 0 WHEN p < 2000 THEN 1
                                         WHEN p < 5000 THEN 2 WHEN p < 10000 THEN 3
                                         ELSE 4 END), 0)
        FROM unnest(prices) p);

CREATE OR REPLACE FUNCTION public.tix_search_prices_now(event_id uuid)
RETURNS bigint[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (SELECT COALESCE(array_agg(DISTINCT public.tix_tier_price(t.price_minor, t.tiers, now())),
                            '{}')
            FROM rm.search_ticket_types t WHERE t.event_id = tix_search_prices_now.event_id
            AND NOT t.hidden);
END $$;
