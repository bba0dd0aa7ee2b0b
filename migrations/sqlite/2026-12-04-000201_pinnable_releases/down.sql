-- Back to no pins: the `pinnable_release` grants cannot survive that.
CREATE TABLE permissions_old (
    username     TEXT NOT NULL REFERENCES users (name),
    permission   TEXT NOT NULL CHECK (permission IN (
        'admin', 'rule', 'release', 'release_locale', 'release_read_only', 'permission',
        'scheduled_change', 'required_signoff', 'emergency_shutoff', 'ledger', 'ticket',
        'webhook')),
    options      TEXT,
    data_version BIGINT NOT NULL,
    PRIMARY KEY (username, permission)
);
INSERT INTO permissions_old (username, permission, options, data_version)
    SELECT username, permission, options, data_version FROM permissions
    WHERE permission <> 'pinnable_release';
DROP TABLE permissions;
ALTER TABLE permissions_old RENAME TO permissions;
DROP TABLE pinnable_releases;
