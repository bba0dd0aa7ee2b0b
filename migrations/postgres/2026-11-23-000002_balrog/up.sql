-- Balrog's admin model: named releases (the Balrog face of a release), rules, and the history
-- of every change to either.
--
-- A release with a name is a Balrog release: it also has a product, a JSON blob (`data`), a
-- read-only flag and a data_version for optimistic locking. The four go together.
-- Names, products, aliases, versions and mappings compare byte-wise (COLLATE "C") so listings
-- sort the same way as on SQLite, whatever the database's locale.

ALTER TABLE releases ADD COLUMN name TEXT COLLATE "C";
ALTER TABLE releases ADD COLUMN product TEXT COLLATE "C";
ALTER TABLE releases ADD COLUMN data TEXT;
ALTER TABLE releases ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE releases ADD COLUMN data_version BIGINT;
ALTER TABLE releases ADD CONSTRAINT releases_name_key UNIQUE (name);
ALTER TABLE releases ADD CONSTRAINT releases_named_check CHECK (
    (name IS NULL) = (product IS NULL)
    AND (name IS NULL) = (data IS NULL)
    AND (name IS NULL) = (data_version IS NULL)
);
CREATE INDEX releases_product_name_idx ON releases (product, name);

-- Rules map client queries to releases by name; a release cannot go while a rule points at it.
CREATE TABLE rules (
    rule_id             BIGSERIAL PRIMARY KEY,
    alias               TEXT COLLATE "C" UNIQUE,
    priority            BIGINT NOT NULL CHECK (priority >= 0),
    mapping             TEXT COLLATE "C" REFERENCES releases (name),
    fallback_mapping    TEXT COLLATE "C" REFERENCES releases (name),
    background_rate     BIGINT NOT NULL CHECK (background_rate BETWEEN 0 AND 100),
    update_type         TEXT NOT NULL CHECK (update_type IN ('minor', 'major')),
    product             TEXT COLLATE "C",
    version             TEXT COLLATE "C",
    channel             TEXT COLLATE "C",
    build_target        TEXT COLLATE "C",
    build_id            TEXT COLLATE "C",
    locale              TEXT COLLATE "C",
    os_version          TEXT COLLATE "C",
    memory              TEXT COLLATE "C",
    instruction_set     TEXT COLLATE "C",
    distribution        TEXT COLLATE "C",
    dist_version        TEXT COLLATE "C",
    header_architecture TEXT COLLATE "C",
    mig64               BOOLEAN,
    jaws                BOOLEAN,
    whitelist           TEXT COLLATE "C",
    comment             TEXT,
    data_version        BIGINT NOT NULL
);
CREATE INDEX rules_product_idx ON rules (product, priority);
CREATE INDEX rules_mapping_idx ON rules (mapping);
CREATE INDEX rules_fallback_mapping_idx ON rules (fallback_mapping);

-- One history for every versioned table (permissions will join rules and releases here).
-- object_key is the rule id or the release name; a marker (insert or delete) has no row.
CREATE TABLE changes (
    change_id    BIGSERIAL PRIMARY KEY,
    table_name   TEXT NOT NULL,
    object_key   TEXT COLLATE "C" NOT NULL,
    changed_by   TEXT NOT NULL,
    changed_at   BIGINT NOT NULL,
    data_version BIGINT,
    row_data     TEXT
);
CREATE INDEX changes_object_idx ON changes (table_name, object_key, change_id);
