-- The transparency log (services/tlog): an RFC 9162 Merkle tree over the logged events.
-- tlog_head holds the tree size; tlog_leaves the leaf data (services/tlog/domain.py
-- LogEntry: public identifiers and the event's digest); tlog_nodes the hash of every
-- perfect subtree (level 0 = leaf hashes), so a proof reads O(log n) rows; and
-- tlog_checkpoints the signed C2SP checkpoint of every size the sequencer reached.
-- Only the sequencer writes, in one transaction per batch; nothing is ever updated or
-- deleted but the head's size.
create table tlog_head (
    singleton  boolean primary key default true check (singleton),
    size       bigint      not null check (size >= 0),
    updated_at timestamptz not null
);
insert into tlog_head (size, updated_at) values (0, now());

create table tlog_leaves (
    leaf_index  bigint primary key check (leaf_index >= 0),
    data        bytea       not null,
    subject     text        not null,
    event_type  text        not null,
    appended_at timestamptz not null
);
create index tlog_leaves_subject on tlog_leaves (subject, leaf_index);

create table tlog_nodes (
    level smallint not null check (level between 0 and 63),
    idx   bigint   not null check (idx >= 0),
    hash  bytea    not null check (length(hash) = 32),
    primary key (level, idx)
);

create table tlog_checkpoints (
    size      bigint primary key check (size >= 0),
    root_hash bytea       not null check (length(root_hash) = 32),
    note      text        not null,
    signed_at timestamptz not null
);
