-- A counter bumped by every change to who may do what: users, tokens, permissions. A server
-- keeps the identities it has checked in memory and trusts them only while this counter has
-- not moved, so a token revoked or a permission taken away by any instance (or by the CLI)
-- stops working everywhere within one refresh interval. Triggers rather than application code,
-- so that no write path can forget to bump it.
--
-- Deferred constraint triggers: the bump runs at commit, so the counter row is the last lock a
-- transaction takes. Two transactions that each change several identity rows therefore cannot
-- deadlock on it, and it is held only for the moment before the commit.
CREATE TABLE identity_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO identity_version (id, version) VALUES (1, 0);

CREATE FUNCTION identity_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE identity_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER identity_version_users AFTER INSERT OR UPDATE OR DELETE ON users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION identity_version_bump();
CREATE CONSTRAINT TRIGGER identity_version_tokens AFTER INSERT OR UPDATE OR DELETE ON tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION identity_version_bump();
CREATE CONSTRAINT TRIGGER identity_version_permissions
    AFTER INSERT OR UPDATE OR DELETE ON permissions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION identity_version_bump();
