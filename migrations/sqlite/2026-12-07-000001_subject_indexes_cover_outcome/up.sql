-- One index per user and one per team instead of two each. (subject, stime, status,
-- has_rollback) serves a subject's pages newest first, as (subject, stime) did, and covers the
-- per-subject statistics, which read (subject, status, has_rollback) before; they now group by
-- subject alone and count the outcomes with FILTER, so the order of status within a subject no
-- longer matters, and a time window is read from the index instead of the table.
--
-- A new release went into both indexes of its user, at two places far apart; now at one. In
-- `make bench-http`'s `POST /releases` on SQLite the server wrote 37.5–39 KB a new release
-- instead of 46–48 KB (WAL frames and their checkpoint), in 18 write calls instead of 21–22.
-- Per-user counts over a time window on 67,000 releases: 114 → 8 ms (they read the table for
-- the start time before). Building the two indexes holds the releases table's write lock for as
-- long as that takes.
DROP INDEX releases_user_stime_idx;
DROP INDEX releases_user_outcome_idx;
DROP INDEX releases_team_stime_idx;
DROP INDEX releases_team_outcome_idx;
CREATE INDEX releases_user_idx ON releases (user_name, stime, status, has_rollback);
CREATE INDEX releases_team_idx ON releases (team, stime, status, has_rollback);
