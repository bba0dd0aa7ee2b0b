-- A release's platforms in a rowid table again.
CREATE TABLE release_platforms_rowid (
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    platform   TEXT NOT NULL,
    ordinal    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (release_id, platform)
);
INSERT INTO release_platforms_rowid (release_id, platform, ordinal)
    SELECT release_id, platform, ordinal FROM release_platforms;
DROP TABLE release_platforms;
ALTER TABLE release_platforms_rowid RENAME TO release_platforms;
CREATE INDEX release_platforms_platform_idx ON release_platforms (platform, release_id);
