-- The transparency log's queue (docs/architecture.md, "The transparency log"). Every
-- outbox row of a logged topic (licence, trust and seal events; not the republished
-- copies, ce_republished = true) is queued by this trigger in the same transaction that
-- writes it: nothing committed can be missing from the log. A document's sealing
-- (document.sealed, on the seal topic) is a use of a seal, not a change: not logged. The log's sequencer
-- (services/tlog/storage.py) appends queued rows to the Merkle tree and deletes them in
-- one transaction, so a crash leaves neither a gap nor a fork. The queue keeps the
-- event's digest, not its value: nothing here outlives the outbox's retention but public
-- identifiers.
create table tlog_queue (
    id           bigserial primary key,
    topic        text        not null,
    headers      jsonb       not null,
    value_sha256 bytea       not null,
    queued_at    timestamptz not null default clock_timestamp()
);

create function tlog_enqueue() returns trigger language plpgsql as $$
begin
    insert into tlog_queue (topic, headers, value_sha256)
    select n.topic, n.headers, sha256(n.value) from new_rows n
    where n.topic in ('certseal.licence-events.v1', 'certseal.trust-events.v1',
                      'certseal.seal-events.v1')
      and coalesce(n.headers->>'ce_republished', '') <> 'true'
      and coalesce(n.headers->>'ce_type', '') <> 'cn.gov.certseal.document.sealed'
    order by n.id;
    return null;
end $$;

create trigger outbox_tlog_enqueue after insert on outbox
    referencing new table as new_rows
    for each statement execute function tlog_enqueue();

-- A database made before the log: the events still retained in the outbox are logged
-- first, in their commit order.
insert into tlog_queue (topic, headers, value_sha256)
select topic, headers, sha256(value) from outbox
where topic in ('certseal.licence-events.v1', 'certseal.trust-events.v1',
                'certseal.seal-events.v1')
  and coalesce(headers->>'ce_republished', '') <> 'true'
  and coalesce(headers->>'ce_type', '') <> 'cn.gov.certseal.document.sealed'
order by id;
