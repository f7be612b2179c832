-- 011_search_sold_tiers.sql - search prices follow tiers that end after a number sold
-- (projections/search.c, gateway/search_sql.c)
--
-- tix_tier_price_sold(price_minor, tiers, at, taken): what a ticket type asks at instant `at`
-- once `taken` of its units are held or sold: the price of the first step of its tiers
-- (docs/sale.md) whose `until` is absent or after `at` and whose `until_sold` is absent or above
-- `taken`, else its own price_minor (the rule of commands/stock_take.c, tix_stock_unit_price).
--
-- tix_search_prices_now(event_id) (replacing 010's): the distinct current prices, now, of the
-- event's visible ticket types, each at its units taken as the search read model counts them
-- (rm.search_ticket_types.taken).
CREATE OR REPLACE FUNCTION public.tix_tier_price_sold(price_minor bigint, tiers jsonb,
                                                      at timestamptz, taken bigint)
RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
RETURN COALESCE((SELECT (s->>'price_minor')::bigint
                 FROM jsonb_array_elements(COALESCE(tiers, '[]'::jsonb)) WITH ORDINALITY AS x(s, i)
                 WHERE (s->>'until' IS NULL OR (s->>'until')::timestamptz > at)
                 AND (s->>'until_sold' IS NULL OR (s->>'until_sold')::bigint > taken)
                 ORDER BY i LIMIT 1), price_minor);

CREATE OR REPLACE FUNCTION public.tix_search_prices_now(event_id uuid)
RETURNS bigint[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (SELECT COALESCE(array_agg(DISTINCT public.tix_tier_price_sold(t.price_minor, t.tiers,
                                                                          now(), t.taken)), '{}')
            FROM rm.search_ticket_types t WHERE t.event_id = tix_search_prices_now.event_id
            AND NOT t.hidden);
END $$;
