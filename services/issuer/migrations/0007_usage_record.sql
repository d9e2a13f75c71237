-- The usage record (用证记录): every use of a licence lineage, for its holder's app
-- (Issuer.ListLicenceUsage; docs/architecture.md, "The usage record"). Verifications
-- come from certseal.licence-usage.v1, authorisations from certseal.licence-events.v1
-- (one consumer group in the issuer), views by the holder's app, downloads and
-- redemptions are written in the issuer's own transaction of that read. entry_id is
-- the event's id and the use's place in it, so a redelivered event is one entry.
-- Nothing here is personal data: counters and departments are identities, the purpose
-- is the counter's own text, the holder is found through licences.holder_ref.
-- Entries older than [issuer] usage_retention_days are pruned by the issuer.
create table licence_usage (
    entry_id         text        primary key,
    lineage          text        not null,
    identifier       text        not null,
    kind             text        not null check (kind in (
        'verified', 'authorised', 'authorisation_revoked', 'redeemed', 'downloaded',
        'viewed')),
    occurred_at      timestamptz not null,
    department_code  text        not null default '',
    counter          text        not null default '',
    clerk            text        not null default '',
    verifier_group   text        not null default '',
    purpose          text        not null default '',
    verdict          text        not null default '',
    actor            text        not null default '',
    action           text        not null default '',
    reference        text        not null default '',
    recorded_at      timestamptz not null
);
create index licence_usage_lineage on licence_usage (lineage, occurred_at, entry_id);
create index licence_usage_age on licence_usage (occurred_at);
