-- Idempotency keys of every mutating RPC (certseal/idempotency.py): per caller identity
-- and key, the fingerprint of the request (SHA-256 over the method and the request
-- without its key) and the bytes of the answer first sent, inserted in the same
-- transaction as the change. Purged after [idempotency] retention_hours.
create table idempotent_requests (
    caller      text        not null,
    key         text        not null,
    method      text        not null,
    fingerprint bytea       not null,
    response    bytea       not null,
    created_at  timestamptz not null,
    primary key (caller, key)
);
create index idempotent_requests_created_at on idempotent_requests (created_at);
