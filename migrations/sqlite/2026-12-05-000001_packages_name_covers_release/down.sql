DROP INDEX packages_name_status_stime_idx;
CREATE INDEX packages_name_status_stime_idx ON packages (name, status, stime);
