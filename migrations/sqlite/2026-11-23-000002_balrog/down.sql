DROP TABLE changes;
DROP TABLE rules;
DROP INDEX releases_product_name_idx;
DROP INDEX releases_name_key;
ALTER TABLE releases DROP COLUMN data_version;
ALTER TABLE releases DROP COLUMN read_only;
ALTER TABLE releases DROP COLUMN data;
ALTER TABLE releases DROP COLUMN product;
ALTER TABLE releases DROP COLUMN name;
