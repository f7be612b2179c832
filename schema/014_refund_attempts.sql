-- 014_refund_attempts.sql - how often the payment worker asked Stripe for each refund
--
-- A refund Stripe could not answer (network, 5xx, 429) is asked again with the same
-- Idempotency-Key after a backoff, at most TIXMO_REFUND_ATTEMPTS times (each time up to
-- TIXMO_STRIPE_ATTEMPTS HTTP tries); attempts counts those rounds across restarts, so the bound
-- holds even when the worker dies in between. Then the worker gives up (status failed, reason
-- stripe_unavailable) and the promoter sees the refund as failed.

ALTER TABLE payment_refunds ADD COLUMN attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0);
