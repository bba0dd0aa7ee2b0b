-- The `webhook` permission (managing /api/v1/webhooks without being an admin). SQLite cannot
-- change a CHECK constraint in place, so the table is rebuilt with every row; its only index is
-- the primary key's, which the new table declares. Nothing references `permissions`.
CREATE TABLE permissions_new (
    username     TEXT NOT NULL REFERENCES users (name),
    permission   TEXT NOT NULL CHECK (permission IN (
        'admin', 'rule', 'release', 'release_locale', 'release_read_only', 'permission',
        'scheduled_change', 'required_signoff', 'emergency_shutoff', 'ledger', 'ticket',
        'webhook')),
    options      TEXT,
    data_version BIGINT NOT NULL,
    PRIMARY KEY (username, permission)
);
INSERT INTO permissions_new (username, permission, options, data_version)
    SELECT username, permission, options, data_version FROM permissions;
DROP TABLE permissions;
ALTER TABLE permissions_new RENAME TO permissions;
