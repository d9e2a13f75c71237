-- A transferred-out licence (status 06) was recorded with operation 08 (transfer in),
-- the receiving side's code; the national code of its own change is 07 (transfer out).
update licences set last_operation = '07' where status = '06' and last_operation = '08';
