-- Republishing the topics from PostgreSQL after Kafka was lost (certseal republish):
-- one row per run, with the cursor of the part it is at, so that an interrupted run
-- resumes where its last committed batch ended.
create table republish_runs (
    run_id      bigserial primary key,
    actor       text        not null,
    started_at  timestamptz not null,
    finished_at timestamptz,
    part        text        not null check (part in ('trust', 'lineages', 'done')),
    after_key   text        not null default '',
    published   bigint      not null default 0
);
create unique index one_unfinished_republish on republish_runs ((true))
    where finished_at is null;
