-- Webhooks and the parked deliveries an operator replayed.
create table feed_webhooks (
    name            text primary key,
    integrator      text not null,    -- whose entitlement applies
    url             text not null,
    departments     text[] not null,  -- the webhook's own filter (empty: no narrowing)
    licence_types   text[] not null,
    event_types     text[] not null,
    wrapped_secret  bytea not null,   -- HMAC key, AES-256-GCM under the KEK
    created_at      timestamptz not null,
    created_by      text not null
);

create table feed_webhook_replays (
    webhook      text not null references feed_webhooks (name),
    dlq_offset   bigint not null,
    replayed_at  timestamptz not null,
    primary key (webhook, dlq_offset)
);
