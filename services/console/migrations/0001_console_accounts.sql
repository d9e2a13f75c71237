-- Counter console accounts (issue 13): clerks and operators sign in; sessions are kept
-- server-side (SHA-256 of the cookie's token) so logout and disabling revoke them; failed
-- logins are kept for the throttling window.
create table console_accounts (
    name          text primary key,
    department    text not null,
    role          text not null check (role in ('clerk', 'operator')),
    password_hash text,
    certificate   text unique,
    disabled      boolean not null default false,
    created_at    timestamptz not null,
    created_by    text not null,
    updated_at    timestamptz not null,
    updated_by    text not null
);

create table console_sessions (
    token_hash   bytea primary key,
    account      text not null references console_accounts (name) on delete cascade,
    created_at   timestamptz not null,
    last_seen_at timestamptz not null,
    address      text not null,
    method       text not null check (method in ('password', 'certificate'))
);
create index console_sessions_account on console_sessions (account);

create table console_login_failures (
    id        bigserial primary key,
    subject   text not null,  -- account:<name> | address:<client address>
    failed_at timestamptz not null
);
create index console_login_failures_subject on console_login_failures (subject, failed_at);
