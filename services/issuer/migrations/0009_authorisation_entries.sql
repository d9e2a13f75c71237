-- Authorisations in the usage record (docs/architecture.md, "The usage record"): an
-- authorisation's entry is now written in the transaction that writes its event, and
-- the issuer no longer reads its own licence topic back for the two event types. The
-- events a previous version published for its consumer to read are found in the
-- outbox (UsageRecord.backfill, at each start of the usage consumer and with each
-- prune): this index keeps that look-up to the few authorisation rows of the outbox.
create index outbox_authorisation_events on outbox (created_at)
    where headers->>'ce_type' in (
        'cn.gov.certseal.licence.authorised',
        'cn.gov.certseal.licence.authorisation_revoked');
