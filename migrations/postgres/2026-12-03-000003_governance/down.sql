DROP INDEX changes_product_idx;
DROP INDEX changes_changed_at_idx;
ALTER TABLE changes DROP COLUMN channel;
ALTER TABLE changes DROP COLUMN product;
DROP TABLE required_signoffs_permissions;
DROP TABLE required_signoffs_product;
DROP TABLE user_roles;
