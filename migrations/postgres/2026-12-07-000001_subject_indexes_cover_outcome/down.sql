-- Two indexes per subject again: one in start-time order, one by outcome.
DROP INDEX releases_user_idx;
DROP INDEX releases_team_idx;
CREATE INDEX releases_user_stime_idx ON releases (user_name, stime);
CREATE INDEX releases_team_stime_idx ON releases (team, stime);
CREATE INDEX releases_user_outcome_idx ON releases (user_name, status, has_rollback);
CREATE INDEX releases_team_outcome_idx ON releases (team, status, has_rollback);
