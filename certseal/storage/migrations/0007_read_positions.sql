-- The outbox relay and the audit sealer keep a read position instead of marking each
-- row (certseal/storage/idcursor.py; docs/architecture.md, "The outbox and the audit log
-- without a mark a row"). Both tables are locked first: no writer is in flight while
-- the positions are computed, so none can hold an id below them.
lock table outbox, audit_log in access exclusive mode;

-- An id is taken only after the transaction has its transaction id: what lets a
-- reader tell a gap in the ids that may still commit from one that never will.
create function nextval_after_xid(sequence regclass) returns bigint
    language plpgsql volatile as $$
begin
    perform pg_current_xact_id();
    return nextval(sequence);
end $$;
alter table outbox alter column id set default nextval_after_xid('outbox_id_seq');
alter table audit_log alter column id set default nextval_after_xid('audit_log_id_seq');

-- The outbox: published_at is no longer written (a previous version's relay, during
-- a rolling upgrade, may still write it; rows it marks are not sent again).
drop index outbox_unpublished;
drop index outbox_published_at;
create table outbox_relay (
    singleton boolean primary key default true check (singleton),
    next_id   bigint not null,   -- every row below it was published (or never commits)
    read_to   bigint not null,   -- the highest id the relay has read
    epoch     bigint not null default 0  -- moved by republish_all: the relay starts over
);
insert into outbox_relay (next_id, read_to)
select n, n - 1 from (
    select coalesce((select min(id) from outbox where published_at is null),
                    (select max(id) + 1 from outbox), 1) as n) p;
-- When each row was published: a row per flush of the relay (about every 0.2 s while
-- busy), the ids the broker acknowledged and when, element by element.
create table outbox_published (
    logged_at    timestamptz   not null default clock_timestamp(),
    ids          bigint[]      not null,
    published_at timestamptz[] not null
);
create index outbox_published_logged_at on outbox_published (logged_at);

-- The audit log: the sealer reads from its position, kept in the chain's head.
drop index audit_unsealed;
alter table audit_head add column unsealed_from bigint;
insert into audit_head (singleton, seq, hash) values (true, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
    on conflict (singleton) do nothing;
update audit_head set unsealed_from = coalesce(
    (select min(id) from audit_log where seq is null),
    (select max(id) + 1 from audit_log), 1);
alter table audit_head alter column unsealed_from set not null;
