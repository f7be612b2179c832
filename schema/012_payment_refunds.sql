-- 012_payment_refunds.sql - the payment worker's refunds (workers/payment)
--
-- One row per refund the sale asked for (order.refund_required), keyed by refund_key: the
-- refund request's id when the organizer (or the buyer of a cancelled event) asked for it, the
-- order's id for the sale's own refunds (a late, wrong or double payment). The worker inserts it
-- (ON CONFLICT DO NOTHING) before calling Stripe with Idempotency-Key tixmo-refund-<refund_key>,
-- so a redelivered event finds the row, and a retry after a crash gets the same Stripe refund:
-- a refund is never made twice. Then the outcome the worker sent back to the sale
-- (order.mark_refunded or order.mark_refund_failed).
--
-- Invariants: refund_key is the key; once set, refund_id never changes (the trigger refuses it).

CREATE TABLE payment_refunds (
    refund_key        text PRIMARY KEY CHECK (length(refund_key) BETWEEN 1 AND 64),
    order_id          uuid NOT NULL,
    event_id          uuid NOT NULL,
    payment_intent_id text NOT NULL CHECK (length(payment_intent_id) BETWEEN 1 AND 128),
    amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
    status            text NOT NULL CHECK (status IN ('creating', 'succeeded', 'pending', 'failed')),
    refund_id         text CHECK (refund_id IS NULL OR length(refund_id) <= 128),
    failure_reason    text CHECK (failure_reason IS NULL OR length(failure_reason) <= 300),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX payment_refunds_order ON payment_refunds (order_id);

CREATE FUNCTION tix_payment_refunds_id_is_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.refund_id IS NOT NULL AND NEW.refund_id IS DISTINCT FROM OLD.refund_id) OR
       NEW.refund_key IS DISTINCT FROM OLD.refund_key THEN
        RAISE EXCEPTION 'payment_refunds: %: ids are never replaced', OLD.refund_key
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER payment_refunds_id_is_final BEFORE UPDATE ON payment_refunds
    FOR EACH ROW EXECUTE FUNCTION tix_payment_refunds_id_is_final();

REVOKE ALL ON payment_refunds FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON payment_refunds TO tixmo_app;
