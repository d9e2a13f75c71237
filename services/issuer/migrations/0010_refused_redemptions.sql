-- Refused redemptions in the usage record (docs/holder.md, "用证记录"): a department's
-- redemption of a holder's authorisation made out to it that was refused (another
-- counter's code, withdrawn, expired, the licence not or no longer valid, the licence
-- changed while the copy was made) is an entry of kind 'redemption_refused', written
-- with the refusal's audit row in one transaction; its verdict says why.
-- The kinds allowed grow by one. The new check is added NOT VALID, so this ALTER's
-- exclusive lock is held only for the catalog change, not for a scan of the table:
-- every row stored has one of the kinds the old check allowed, and
-- 0011_refused_redemptions_validated.sql validates it in a transaction of its own,
-- under a lock that lets the record be read and written meanwhile.
alter table licence_usage drop constraint licence_usage_kind_check;
alter table licence_usage add constraint licence_usage_kind_check check (kind in (
    'verified', 'authorised', 'authorisation_revoked', 'redeemed', 'downloaded',
    'viewed', 'redemption_refused')) not valid;
