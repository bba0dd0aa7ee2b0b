-- The status index grouped by rollback flag again.
DROP INDEX releases_outcome_idx;
CREATE INDEX releases_outcome_idx ON releases (status, has_rollback, stime);
