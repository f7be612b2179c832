-- 007_payments.sql - the payment worker's own table (workers/payment)
--
-- One row per order, written by tixmo-payment as it handles the sale's events: created at
-- order.placed (status 'creating'), the Stripe PaymentIntent's id, client secret and status once
-- Stripe answered, then the outcome the sale recorded (order.paid -> 'succeeded',
-- order.payment_failed -> 'payment_failed', order.refund_required -> 'refund_pending',
-- order.refunded -> 'refunded'). It is the worker's memory of what it asked Stripe for, not the
-- truth about the order (that is the log); the gateway shows it to the order's buyer
-- (GET /api/v1/payments/{order_id}) so the client can confirm the payment with the secret.
--
-- Invariants:
--  * order_id is the key: a redelivered order.placed finds its row (INSERT ... ON CONFLICT DO
--    NOTHING) and the Idempotency-Key tixmo-order-<order_id> gives back the same intent;
--  * once set, payment_intent_id and refund_id never change (the trigger refuses it).

CREATE TABLE payments (
    order_id          uuid PRIMARY KEY,
    event_id          uuid NOT NULL,
    buyer_id          text NOT NULL CHECK (length(buyer_id) BETWEEN 1 AND 128),
    payment_intent_id text CHECK (payment_intent_id IS NULL OR length(payment_intent_id) <= 128),
    client_secret     text CHECK (client_secret IS NULL OR length(client_secret) <= 256),
    amount_minor      bigint NOT NULL CHECK (amount_minor >= 0),
    currency          text NOT NULL CHECK (currency ~ '^[A-Za-z]{3}$'),
    status            text NOT NULL CHECK (length(status) BETWEEN 1 AND 40),
    failure_reason    text CHECK (failure_reason IS NULL OR length(failure_reason) <= 300),
    refund_id         text CHECK (refund_id IS NULL OR length(refund_id) <= 128),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX payments_buyer ON payments (buyer_id, created_at DESC);
CREATE INDEX payments_intent ON payments (payment_intent_id) WHERE payment_intent_id IS NOT NULL;

CREATE FUNCTION tix_payments_ids_are_final() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.payment_intent_id IS NOT NULL AND
        NEW.payment_intent_id IS DISTINCT FROM OLD.payment_intent_id) OR
       (OLD.refund_id IS NOT NULL AND NEW.refund_id IS DISTINCT FROM OLD.refund_id) OR
       NEW.order_id IS DISTINCT FROM OLD.order_id THEN
        RAISE EXCEPTION 'payments: order %: ids are never replaced', OLD.order_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER payments_ids_are_final BEFORE UPDATE ON payments
    FOR EACH ROW EXECUTE FUNCTION tix_payments_ids_are_final();

REVOKE ALL ON payments FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON payments TO tixmo_app;
