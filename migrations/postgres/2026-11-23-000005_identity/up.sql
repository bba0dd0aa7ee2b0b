-- Identity: users, their API and access tokens, and Balrog's permissions (plus `ledger` and
-- `ticket` for the Orlo and Bileto faces). Permission changes are recorded in `changes`
-- with table_name 'permissions' and object_key 'user/permission'.

CREATE TABLE users (
    name       TEXT COLLATE "C" PRIMARY KEY,
    created_at TIMESTAMP NOT NULL
);

-- Only the SHA-256 of a token's secret is stored: the secret itself is shown once, at creation.
-- An API token lives until revoked; an access token (from POST /api/v1/login or GET /token)
-- also expires, and belongs to the API token it was exchanged for, so revoking that revokes it.
CREATE TABLE tokens (
    id          BIGSERIAL PRIMARY KEY,
    user_name   TEXT COLLATE "C" NOT NULL REFERENCES users (name),
    secret_hash TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('api', 'access')),
    parent_id   BIGINT REFERENCES tokens (id),
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP,
    revoked_at  TIMESTAMP,
    CHECK ((kind = 'api') = (parent_id IS NULL)),
    CHECK ((kind = 'api') = (expires_at IS NULL))
);
CREATE INDEX tokens_parent_idx ON tokens (parent_id);
CREATE INDEX tokens_user_idx ON tokens (user_name, id);

-- One row per permission a user holds; options is the JSON object Balrog stores (or NULL).
CREATE TABLE permissions (
    username     TEXT COLLATE "C" NOT NULL REFERENCES users (name),
    permission   TEXT COLLATE "C" NOT NULL CHECK (permission IN (
        'admin', 'rule', 'release', 'release_locale', 'release_read_only', 'permission',
        'scheduled_change', 'required_signoff', 'emergency_shutoff', 'ledger', 'ticket')),
    options      TEXT,
    data_version BIGINT NOT NULL,
    PRIMARY KEY (username, permission)
);
