DROP TRIGGER identity_version_users ON users;
DROP TRIGGER identity_version_tokens ON tokens;
DROP TRIGGER identity_version_permissions ON permissions;
DROP FUNCTION identity_version_bump();
DROP TABLE identity_version;
