-- The audit sealer polls instead of listening: every notifying commit takes
-- PostgreSQL's global notify-queue lock, and sealing needs no millisecond wake-up.
-- The outbox keeps its trigger: publishing does.
drop trigger audit_notify on audit_log;
drop function audit_notify();
