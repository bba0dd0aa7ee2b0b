-- Pinnable releases (Balrog's `pinnable_releases`): clients of `product` on `channel` that send
-- `?pin=<version>` are served `mapping` when the release a rule maps them to is past the pin.
-- `version` is the pin in canonical form (`66.`, `66.1.`). Changes are recorded in `changes`
-- (table name `pinnable_releases`, key `product/channel/version`), which also bumps the
-- rule-set counter so serving instances pick them up.
CREATE TABLE pinnable_releases (
    product      TEXT COLLATE "C" NOT NULL,
    channel      TEXT COLLATE "C" NOT NULL,
    version      TEXT COLLATE "C" NOT NULL,
    mapping      TEXT COLLATE "C" NOT NULL REFERENCES releases (name),
    data_version BIGINT NOT NULL,
    PRIMARY KEY (product, channel, version)
);
-- Deleting a release asks whether any pin maps to it.
CREATE INDEX pinnable_releases_mapping_idx ON pinnable_releases (mapping);

-- The `pinnable_release` permission (Balrog's name): setting pins for some products.
ALTER TABLE permissions DROP CONSTRAINT permissions_permission_check;
ALTER TABLE permissions ADD CONSTRAINT permissions_permission_check CHECK (permission IN (
    'admin', 'rule', 'release', 'release_locale', 'release_read_only', 'permission',
    'scheduled_change', 'required_signoff', 'emergency_shutoff', 'ledger', 'ticket',
    'webhook', 'pinnable_release'));
