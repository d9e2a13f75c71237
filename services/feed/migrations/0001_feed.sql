-- What each integrator may receive from the event feed (set by the operator).
create table feed_entitlements (
    integrator     text primary key,  -- mTLS identity, app:<name>
    departments    text[] not null,
    licence_types  text[] not null,
    event_types    text[] not null,
    updated_at     timestamptz not null,
    updated_by     text not null
);
