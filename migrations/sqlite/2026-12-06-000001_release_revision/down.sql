ALTER TABLE releases DROP COLUMN revision;
