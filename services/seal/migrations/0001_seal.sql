-- Seals (GB/T 38540 SESeal) and the platform's seal makers, one per suite and seal CA.

create table seal_makers (
    suite        text not null check (suite in ('sm2', 'es256', 'ed25519')),
    ca_fingerprint text not null,  -- SHA-256 of the seal CA certificate, hex
    kid          text not null,
    public_key   bytea not null,
    wrapped_key  bytea not null,   -- AES-256-GCM under the KEK, bound to the kid
    certificate  bytea not null,   -- DER, issued by that seal CA
    created_at   timestamptz not null,
    primary key (suite, ca_fingerprint)
);

create table seals (
    seal_id      text primary key,
    owner_code   text not null,
    seal_type    text not null,
    name         text not null,
    suite        text not null,
    status       text not null default 'active' check (status in ('active', 'revoked')),
    valid_start  timestamptz not null,
    valid_end    timestamptz not null,
    signers      text[] not null,  -- mTLS identities that may use the seal
    kid          text not null,
    wrapped_key  bytea not null,
    certificate  bytea not null,   -- the seal key's certificate from the seal CA
    seal         bytea not null,   -- DER SESeal
    created_at   timestamptz not null,
    revoked_at   timestamptz,
    revocation_reason text not null default '',
    seal_version bigint not null default 1,
    check (valid_start < valid_end)
);

create index seals_by_owner on seals (owner_code, seal_id);
