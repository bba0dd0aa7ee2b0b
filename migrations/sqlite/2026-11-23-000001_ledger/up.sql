-- The release ledger: releases, their packages, platforms, notes and metadata.
-- Ids are UUID text and times are UTC TIMESTAMP (µs), the same portable shapes as on SQLite.

CREATE TABLE releases (
    id            TEXT PRIMARY KEY,
    user_name     TEXT NOT NULL,
    team          TEXT,
    refs          TEXT NOT NULL DEFAULT '[]',
    stime         TIMESTAMP NOT NULL,
    ftime         TIMESTAMP,
    duration_secs BIGINT,
    -- Derived from the packages by shiplog_domain::ReleaseStatus::derive and rewritten in the
    -- same transaction as every package change, so status filters and statistics are index
    -- lookups instead of aggregates over every package.
    status        TEXT CHECK (status IN ('NOT_STARTED', 'IN_PROGRESS', 'SUCCESSFUL', 'FAILED')),
    has_rollback  BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX releases_stime_idx ON releases (stime, id);
CREATE INDEX releases_user_stime_idx ON releases (user_name, stime);
CREATE INDEX releases_team_stime_idx ON releases (team, stime);
CREATE INDEX releases_ftime_idx ON releases (ftime);
CREATE INDEX releases_outcome_idx ON releases (status, has_rollback, stime);
CREATE INDEX releases_user_outcome_idx ON releases (user_name, status, has_rollback);
CREATE INDEX releases_team_outcome_idx ON releases (team, status, has_rollback);

CREATE TABLE packages (
    id            TEXT PRIMARY KEY,
    release_id    TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    created_at    TIMESTAMP NOT NULL,
    ordinal       INTEGER NOT NULL DEFAULT 0,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'NOT_STARTED'
                  CHECK (status IN ('NOT_STARTED', 'IN_PROGRESS', 'SUCCESSFUL', 'FAILED')),
    rollback      BOOLEAN NOT NULL DEFAULT 0,
    diff_url      TEXT,
    stime         TIMESTAMP,
    ftime         TIMESTAMP,
    duration_secs BIGINT,
    results       TEXT
);
CREATE INDEX packages_release_idx ON packages (release_id, created_at, ordinal);
CREATE INDEX packages_status_release_idx ON packages (status, release_id);
CREATE INDEX packages_name_status_stime_idx ON packages (name, status, stime);
CREATE INDEX packages_stime_idx ON packages (stime);

CREATE TABLE release_platforms (
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    platform   TEXT NOT NULL,
    ordinal    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (release_id, platform)
);
CREATE INDEX release_platforms_platform_idx ON release_platforms (platform, release_id);

CREATE TABLE release_notes (
    id         TEXT PRIMARY KEY,
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    ordinal    INTEGER NOT NULL DEFAULT 0,
    body       TEXT NOT NULL
);
CREATE INDEX release_notes_release_idx ON release_notes (release_id, created_at, ordinal);

CREATE TABLE release_metadata (
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (release_id, key)
);
