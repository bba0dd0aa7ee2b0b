-- A release's platforms as a table keyed by (release_id, platform) alone, `WITHOUT ROWID`: the
-- rows live in their primary key's B-tree, so reading a release's platforms is one index search
-- instead of a search of the key's index and then one of the table for `ordinal`, and a new
-- platform goes into two B-trees instead of three (with the platform index). SQLite cannot
-- change a table's kind in place: the table is built anew and its rows copied, holding the
-- write lock for as long as that takes.
CREATE TABLE release_platforms_keyed (
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    platform   TEXT NOT NULL,
    ordinal    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (release_id, platform)
) WITHOUT ROWID;
INSERT INTO release_platforms_keyed (release_id, platform, ordinal)
    SELECT release_id, platform, ordinal FROM release_platforms;
DROP TABLE release_platforms;
ALTER TABLE release_platforms_keyed RENAME TO release_platforms;
CREATE INDEX release_platforms_platform_idx ON release_platforms (platform, release_id);
