-- The transparency log holds what changes a licence, a key or a seal, and nothing of
-- what a holder does with a licence (atk39authz). 0004 queued every row of the
-- logged topics but a document's sealing, so a holder's authorisation (授权用证,
-- licence.authorised) and its withdrawal (licence.authorisation_revoked), which ride
-- the licence topic with the lineage's state, became leaves that every caller kind
-- and any auditor could find by the lineage, with their dates: entries of the usage
-- record (用证记录), which only the holder's app may read (docs/holder.md).
-- The trigger now queues the types it names, no others, so an event type added later
-- is not logged until it is named here (tests/tlog/test_queue.py holds every type of
-- certseal.events.EVENT_TYPES to this list). Leaves already appended stay: the log is
-- append-only, and a leaf holds the lineage and the event's digest, no personal data.
-- Rows still queued of a type no longer logged are dropped before they are appended.
create or replace function tlog_enqueue() returns trigger language plpgsql as $$
begin
    insert into tlog_queue (topic, headers, value_sha256)
    select n.topic, n.headers, sha256(n.value) from new_rows n
    where coalesce(n.headers->>'ce_republished', '') <> 'true'
      and (n.topic, coalesce(n.headers->>'ce_type', '')) in (
          ('certseal.licence-events.v1', 'cn.gov.certseal.licence.issued'),
          ('certseal.licence-events.v1', 'cn.gov.certseal.licence.renewed'),
          ('certseal.licence-events.v1', 'cn.gov.certseal.licence.amended'),
          ('certseal.licence-events.v1', 'cn.gov.certseal.licence.suspended'),
          ('certseal.licence-events.v1', 'cn.gov.certseal.licence.unsuspended'),
          ('certseal.licence-events.v1', 'cn.gov.certseal.licence.revoked'),
          ('certseal.licence-events.v1', 'cn.gov.certseal.licence.cancelled'),
          ('certseal.licence-events.v1', 'cn.gov.certseal.licence.expired'),
          ('certseal.licence-events.v1', 'cn.gov.certseal.licence.transferred'),
          ('certseal.trust-events.v1', 'cn.gov.certseal.key.activated'),
          ('certseal.trust-events.v1', 'cn.gov.certseal.key.retired'),
          ('certseal.trust-events.v1', 'cn.gov.certseal.key.revoked'),
          ('certseal.seal-events.v1', 'cn.gov.certseal.seal.registered'),
          ('certseal.seal-events.v1', 'cn.gov.certseal.seal.revoked'))
    order by n.id;
    return null;
end $$;

delete from tlog_queue
where headers->>'ce_type' in ('cn.gov.certseal.licence.authorised',
                              'cn.gov.certseal.licence.authorisation_revoked');
