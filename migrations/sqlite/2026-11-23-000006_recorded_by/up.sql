-- Who recorded a release (the authenticated caller), beside the `user` the client reports.
ALTER TABLE releases ADD COLUMN recorded_by TEXT;
