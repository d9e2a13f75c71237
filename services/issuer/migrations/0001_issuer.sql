create table departments (
    code       text primary key,
    name       text        not null,
    roles      text[]      not null,
    created_at timestamptz not null
);

create table licence_types (
    type_code             text primary key,
    name                  text        not null,
    fields                jsonb       not null,
    default_validity_days integer     not null,
    issuer_codes          text[]      not null,
    created_at            timestamptz not null
);

-- Private keys are AES-256-GCM wrapped under the KEK, bound to their kid.
create table signing_keys (
    kid                 text primary key,
    department_code     text        not null references departments,
    suite               text        not null check (suite in ('sm2', 'es256', 'ed25519')),
    status              text        not null check (status in ('active', 'retired', 'revoked')),
    public_key          bytea       not null,
    wrapped_private_key bytea       not null,
    not_before          timestamptz not null,
    not_after           timestamptz not null,
    created_at          timestamptz not null,
    retired_at          timestamptz,
    revoked_at          timestamptz,
    revocation_reason   text        not null default '',
    key_version         bigint      not null default 1,
    presentation        boolean     not null default false
);
create index signing_keys_department on signing_keys (department_code, status, created_at);
create unique index one_active_presentation_key on signing_keys (presentation)
    where presentation and status = 'active';

-- One row per lineage: its row lock orders every change of the lineage (and so its
-- outbox rows); lineage_version grows with each change.
create table lineages (
    lineage            text primary key,
    current_identifier text   not null,
    lineage_version    bigint not null,
    issuer_code        text   not null
);

create table licences (
    identifier          text primary key,
    lineage             text        not null,
    version             integer     not null,
    type_code           text        not null references licence_types,
    issuer_code         text        not null,
    holder_ref          text        not null,  -- HMAC of the identity document
    holder_display_name text        not null,  -- masked
    private_data        bytea       not null,  -- AES-GCM: holder and personal fields
    clear_fields        jsonb       not null,
    valid_from          timestamptz not null,
    valid_until         timestamptz not null,
    status              text        not null,
    status_reason       text        not null default '',
    last_operation      text        not null,
    issued_at           timestamptz not null,
    updated_at          timestamptz not null,
    replaces            text,
    superseded_by       text,
    transferred_to      text,
    kid                 text        not null,
    code                text        not null,  -- the signed static licence code
    lineage_version     bigint      not null
);
create index licences_holder on licences (holder_ref, identifier);
create index licences_issuer_type on licences (issuer_code, type_code, identifier);
create index licences_issuer_status on licences (issuer_code, status, identifier);
create index licences_lineage on licences (lineage, version);
create index licences_to_expire on licences (valid_until)
    where status in ('01', '02') and superseded_by is null;

create table idempotency_keys (
    department_code text        not null,
    key             text        not null,
    request_hash    bytea       not null,
    identifier      text        not null,
    created_at      timestamptz not null,
    primary key (department_code, key)
);
