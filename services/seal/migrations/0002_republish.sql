-- Republishing the seal registry from PostgreSQL after Kafka was lost (certseal
-- republish): one row per run, with the last seal id republished, so that an
-- interrupted run resumes where its last committed batch ended.
create table seal_republish_runs (
    run_id        bigserial primary key,
    actor         text        not null,
    started_at    timestamptz not null,
    finished_at   timestamptz,
    after_seal_id text        not null default '',
    published     bigint      not null default 0
);
create unique index one_unfinished_seal_republish on seal_republish_runs ((true))
    where finished_at is null;
