-- republish_all sends every retained row again; their commit-to-publish times are
-- the time since their first commit, not a delay of the relay. republished_to is
-- the highest id that had been published when republish_all last ran: the relay
-- observes certseal_outbox_commit_to_publish_seconds only for rows above it, and
-- counts the rows at or below it in certseal_outbox_republished_events.
alter table outbox_relay add column republished_to bigint not null default 0;
