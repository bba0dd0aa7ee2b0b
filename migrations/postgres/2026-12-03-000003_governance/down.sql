DROP TABLE required_signoffs_permissions;
DROP TABLE required_signoffs_product;
DROP TABLE user_roles;
