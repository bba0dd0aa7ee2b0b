-- Balrog's admin model: named releases (the Balrog face of a release), rules, and the history
-- of every change to either.
--
-- A release with a name is a Balrog release: it also has a product, a JSON blob (`data`), a
-- read-only flag and a data_version for optimistic locking. The four go together (SQLite cannot
-- add a table constraint, so the check rides on data_version). Text compares byte-wise, as the
-- PostgreSQL schema asks with COLLATE "C".

ALTER TABLE releases ADD COLUMN name TEXT;
ALTER TABLE releases ADD COLUMN product TEXT;
ALTER TABLE releases ADD COLUMN data TEXT;
ALTER TABLE releases ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE releases ADD COLUMN data_version BIGINT CHECK (
    (name IS NULL) = (product IS NULL)
    AND (name IS NULL) = (data IS NULL)
    AND (name IS NULL) = (data_version IS NULL)
);
CREATE UNIQUE INDEX releases_name_key ON releases (name);
CREATE INDEX releases_product_name_idx ON releases (product, name);

-- Rules map client queries to releases by name; a release cannot go while a rule points at it.
CREATE TABLE rules (
    rule_id             INTEGER PRIMARY KEY AUTOINCREMENT,
    alias               TEXT UNIQUE,
    priority            BIGINT NOT NULL CHECK (priority >= 0),
    mapping             TEXT REFERENCES releases (name),
    fallback_mapping    TEXT REFERENCES releases (name),
    background_rate     BIGINT NOT NULL CHECK (background_rate BETWEEN 0 AND 100),
    update_type         TEXT NOT NULL CHECK (update_type IN ('minor', 'major')),
    product             TEXT,
    version             TEXT,
    channel             TEXT,
    build_target        TEXT,
    build_id            TEXT,
    locale              TEXT,
    os_version          TEXT,
    memory              TEXT,
    instruction_set     TEXT,
    distribution        TEXT,
    dist_version        TEXT,
    header_architecture TEXT,
    mig64               BOOLEAN,
    jaws                BOOLEAN,
    whitelist           TEXT,
    comment             TEXT,
    data_version        BIGINT NOT NULL
);
CREATE INDEX rules_product_idx ON rules (product, priority);
CREATE INDEX rules_mapping_idx ON rules (mapping);
CREATE INDEX rules_fallback_mapping_idx ON rules (fallback_mapping);

-- One history for every versioned table (permissions will join rules and releases here).
-- object_key is the rule id or the release name; a marker (insert or delete) has no row.
CREATE TABLE changes (
    change_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name   TEXT NOT NULL,
    object_key   TEXT NOT NULL,
    changed_by   TEXT NOT NULL,
    changed_at   BIGINT NOT NULL,
    data_version BIGINT,
    row_data     TEXT
);
CREATE INDEX changes_object_idx ON changes (table_name, object_key, change_id);
