-- 015_emails.sql - the email worker's record of the mails it sent (workers/email)
--
-- One row per mail, keyed by message_id: derived from the event that asked for the mail
-- ("<kind>.<event id>@tixmo"), so a redelivered event finds its row and is not mailed twice.
-- The worker sends, then inserts the row (ON CONFLICT DO NOTHING); status 'skipped' records an
-- event that needs no mail (its subject was erased). No personal data: the recipient is the
-- subject's id, never the address.

CREATE TABLE email_messages (
    message_id  text PRIMARY KEY CHECK (length(message_id) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('verify_email', 'password_reset',
                                              'order_confirmation', 'ticket_transfer')),
    event_id    uuid NOT NULL,
    subject_id  text NOT NULL CHECK (length(subject_id) BETWEEN 1 AND 128),
    status      text NOT NULL CHECK (status IN ('sent', 'skipped')),
    attachments int NOT NULL DEFAULT 0 CHECK (attachments >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX email_messages_subject ON email_messages (subject_id, created_at);

REVOKE ALL ON email_messages FROM PUBLIC;
GRANT SELECT, INSERT ON email_messages TO tixmo_app;
