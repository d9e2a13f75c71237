-- Holder apps (mTLS app:<name>) read licences holder-bound, only of the licence types
-- the operator granted them (IssuerAdmin.GrantHolderApp). A database from before this
-- migration has no grants: every holder app reads nothing until the operator grants.
create table holder_app_grants (
    app        text        not null,  -- app:<name>
    type_code  text        not null references licence_types,
    granted_at timestamptz not null,
    granted_by text        not null,
    primary key (app, type_code)
);
