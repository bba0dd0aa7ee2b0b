ALTER TABLE releases DROP COLUMN recorded_by;
