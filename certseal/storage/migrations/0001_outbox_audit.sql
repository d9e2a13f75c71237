-- Transactional outbox: rows are written in the same transaction as the change they
-- announce; the relay publishes them in id order and marks them published.
create table outbox (
    id           bigserial primary key,
    topic        text        not null,
    key          bytea       not null,
    value        bytea       not null,
    headers      jsonb       not null,
    created_at   timestamptz not null default clock_timestamp(),
    published_at timestamptz
);
create index outbox_unpublished on outbox (id) where published_at is null;
create index outbox_published_at on outbox (published_at) where published_at is not null;

create function outbox_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('certseal_outbox', '');
    return null;
end $$;
create trigger outbox_notify after insert on outbox
    for each statement execute function outbox_notify();

-- Audit trail. Rows are inserted by the transaction that acts (or by a separate one for a
-- refusal) and then sealed into a SHA-256 hash chain by the audit sealer, which assigns
-- seq in the order it sees committed rows: each row carries the hash of the previous.
create table audit_log (
    id          bigserial primary key,
    occurred_at timestamptz not null,
    actor       text        not null,
    action      text        not null,
    subject     text        not null,
    outcome     text        not null check (outcome in ('ok', 'denied', 'failed')),
    details     jsonb       not null default '{}',
    request_id  text        not null default '',
    seq         bigint unique,
    prev_hash   bytea,
    hash        bytea
);
create index audit_unsealed on audit_log (id) where seq is null;

create table audit_head (
    singleton boolean primary key default true check (singleton),
    seq       bigint not null,
    hash      bytea  not null
);

create function audit_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('certseal_audit', '');
    return null;
end $$;
create trigger audit_notify after insert on audit_log
    for each statement execute function audit_notify();
