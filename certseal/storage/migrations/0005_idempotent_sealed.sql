-- Kept answers sealed (certseal/crypto.py AnswerProtector, atk-pii F1 and F4): a row
-- written from this migration on holds its request's fingerprint as an HMAC and its
-- answer as AES-256-GCM under [secrets] answers_key_file. Rows written before keep
-- the plain SHA-256 and answer (sealed = false) and are read as before until the
-- purge removes them, at most [idempotency] retention_hours later.
alter table idempotent_requests add column sealed boolean not null default false;
