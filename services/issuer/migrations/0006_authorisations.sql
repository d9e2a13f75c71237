-- 授权用证: a holder's authorisation of one department (or counter) to use one licence
-- for one purpose until expires_at. The code is kept only as its SHA-256 (shown once to
-- the holder); the holder only as the pseudonym every licence row carries.
create table licence_authorisations (
    authorisation_id text        primary key,
    code_digest      text        not null unique,
    lineage          text        not null,
    identifier       text        not null references licences (identifier),
    holder_ref       text        not null,
    department_code  text        not null references departments (code),
    counter          text        not null default '',
    purpose          text        not null,
    fields           text[]      not null,
    expires_at       timestamptz not null,
    created_at       timestamptz not null,
    created_by       text        not null,
    revoked_at       timestamptz,
    revoked_by       text,
    revocation_reason text
);
create index licence_authorisations_by_holder on licence_authorisations (holder_ref);
