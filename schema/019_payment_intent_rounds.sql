-- 019_payment_intent_rounds.sql - how often the payment worker asked Stripe for an order's intent
--
-- An intent Stripe could not create (network, 5xx, 429) is asked again with the same
-- Idempotency-Key after a delay, at most TIXMO_PAYMENT_INTENT_ROUNDS times (each time up to
-- TIXMO_STRIPE_ATTEMPTS HTTP tries); intent_rounds counts those rounds across restarts, so the
-- bound holds even when the worker dies in between. Between rounds the row reads status
-- 'retrying' with the last failure in failure_reason; after the last round (or when Stripe
-- refuses the intent for good) it reads 'failed' with the reason, and the worker cancels the
-- order (order.cancel, command id payments.intent_failed.<order_id>) so its seats come back.
-- The statuses of the row, in full: 'creating', 'retrying', 'failed' (no intent), Stripe's
-- intent status once it answered, then 'succeeded', 'payment_failed', 'refund_pending',
-- 'refunded' as the sale records them.

ALTER TABLE payments ADD COLUMN intent_rounds int NOT NULL DEFAULT 0 CHECK (intent_rounds >= 0);
