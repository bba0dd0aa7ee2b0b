ALTER TABLE rules DROP COLUMN sticky_by;
