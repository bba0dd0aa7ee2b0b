-- Pinnable releases (Balrog's `pinnable_releases`): clients of `product` on `channel` that send
-- `?pin=<version>` are served `mapping` when the release a rule maps them to is past the pin.
-- `version` is the pin in canonical form (`66.`, `66.1.`). Changes are recorded in `changes`
-- (table name `pinnable_releases`, key `product/channel/version`), which also bumps the
-- rule-set counter so serving instances pick them up.
CREATE TABLE pinnable_releases (
    product      TEXT NOT NULL,
    channel      TEXT NOT NULL,
    version      TEXT NOT NULL,
    mapping      TEXT NOT NULL REFERENCES releases (name),
    data_version BIGINT NOT NULL,
    PRIMARY KEY (product, channel, version)
);
-- Deleting a release asks whether any pin maps to it.
CREATE INDEX pinnable_releases_mapping_idx ON pinnable_releases (mapping);

-- The `pinnable_release` permission (Balrog's name): setting pins for some products. SQLite
-- cannot change a CHECK constraint in place, so the table is rebuilt with every row; its only
-- index is the primary key's, which the new table declares. Nothing references `permissions`.
CREATE TABLE permissions_new (
    username     TEXT NOT NULL REFERENCES users (name),
    permission   TEXT NOT NULL CHECK (permission IN (
        'admin', 'rule', 'release', 'release_locale', 'release_read_only', 'permission',
        'scheduled_change', 'required_signoff', 'emergency_shutoff', 'ledger', 'ticket',
        'webhook', 'pinnable_release')),
    options      TEXT,
    data_version BIGINT NOT NULL,
    PRIMARY KEY (username, permission)
);
INSERT INTO permissions_new (username, permission, options, data_version)
    SELECT username, permission, options, data_version FROM permissions;
DROP TABLE permissions;
ALTER TABLE permissions_new RENAME TO permissions;
