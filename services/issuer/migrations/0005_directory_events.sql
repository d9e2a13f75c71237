-- Names reach the verifiers' index through directory events (docs/events.md). A
-- department or licence type registered before this upgrade was never announced: the
-- flag stays false for it until the issuer publishes it once, at start-up, through
-- the outbox. Entries registered from now on are announced in their own transaction.
alter table departments add column announced boolean not null default false;
alter table licence_types add column announced boolean not null default false;
create index departments_unannounced on departments (code) where not announced;
create index licence_types_unannounced on licence_types (type_code) where not announced;
