-- A counter bumped by every change to who may do what: users, tokens, permissions. A server
-- keeps the identities it has checked in memory and trusts them only while this counter has
-- not moved, so a token revoked or a permission taken away by any instance (or by the CLI)
-- stops working everywhere within one refresh interval. Triggers rather than application code,
-- so that no write path can forget to bump it.
CREATE TABLE identity_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO identity_version (id, version) VALUES (1, 0);

CREATE TRIGGER identity_version_users_insert AFTER INSERT ON users
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_users_update AFTER UPDATE ON users
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_users_delete AFTER DELETE ON users
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER identity_version_tokens_insert AFTER INSERT ON tokens
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_tokens_update AFTER UPDATE ON tokens
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_tokens_delete AFTER DELETE ON tokens
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER identity_version_permissions_insert AFTER INSERT ON permissions
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_permissions_update AFTER UPDATE ON permissions
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_permissions_delete AFTER DELETE ON permissions
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
