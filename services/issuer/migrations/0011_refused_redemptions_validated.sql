-- The check of 0010_refused_redemptions.sql, validated for the rows stored before it
-- (a scan of licence_usage under SHARE UPDATE EXCLUSIVE: the record is read and
-- written meanwhile; every migration file is a transaction of its own).
alter table licence_usage validate constraint licence_usage_kind_check;
