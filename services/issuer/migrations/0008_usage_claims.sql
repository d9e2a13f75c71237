-- Claims of presentation codes in the usage record (docs/architecture.md §2c, "First in
-- the log wins"). A verifier publishes the acceptance of a presentation code as a
-- claim (verdict VALID, the nonce's hash) before it knows whether another claim of the
-- same nonce came first; the first claim in the log is the acceptance and the later ones
-- were answered REPLAYED. The record keeps each use's nonce hash (a hash of a one-time
-- value, nothing personal) and stores a later claim with the verdict its counter saw.
-- Rows from before this migration have no nonce hash and are left as they are.
alter table licence_usage add column nonce_hash text not null default '';
-- at most one accepted use per nonce of a lineage: the database keeps the rule even for
-- two issuer replicas writing at once (one of them fails and consumes the batch again)
create unique index licence_usage_accepted_nonce on licence_usage (lineage, nonce_hash)
    where verdict = 'VALID' and nonce_hash <> '';
