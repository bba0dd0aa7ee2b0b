DELETE FROM changes WHERE table_name = 'permissions';
DROP TABLE permissions;
DROP TABLE tokens;
DROP TABLE users;
