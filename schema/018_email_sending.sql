-- 018_email_sending.sql - the email worker writes its record before it hands a mail to SMTP
--
-- A mail's row is now written with status 'sending' before the worker gives the mail to the
-- SMTP server, and set to 'sent' (with sent_at) once the server accepted it; attempts counts
-- the hand-overs. A redelivered event that finds 'sending' does not know whether the server got
-- the mail (the worker died in between): it sends it again under the same Message-ID, derived
-- from the event, which receivers that deduplicate by Message-ID show once. A row left
-- 'sending' is such a mail, sent at most `attempts` times. 'sent' and 'skipped' are final.
-- Also accepts the kind 'transfer_offer' (ticket.transfer_offered), which 015 lacked: its record
-- was refused after the mail had gone out.

ALTER TABLE email_messages DROP CONSTRAINT email_messages_kind_check,
    ADD CONSTRAINT email_messages_kind_check CHECK (kind IN ('verify_email', 'password_reset',
        'order_confirmation', 'ticket_transfer', 'transfer_offer'));
ALTER TABLE email_messages DROP CONSTRAINT email_messages_status_check,
    ADD CONSTRAINT email_messages_status_check CHECK (status IN ('sending', 'sent', 'skipped'));
ALTER TABLE email_messages ADD COLUMN attempts int NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    ADD COLUMN sent_at timestamptz;

GRANT UPDATE (status, attempts, attachments, sent_at) ON email_messages TO tixmo_app;
