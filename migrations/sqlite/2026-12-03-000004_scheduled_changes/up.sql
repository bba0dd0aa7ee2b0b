-- Scheduled changes (docs/balrog.md, "Governance: scheduled changes"). One table for every kind
-- of target: the targets differ only in their base row, which is kept as the JSON object the
-- Balrog face shows, so listing, locking, signing and the scheduler's claim are one query each
-- whatever the table. `object_key` names the target row (rule id, release name,
-- `product/channel`, `user/permission`, …); it is NULL for a rule insert, whose id is not known
-- until it is enacted. At most one pending change per row: the partial unique index says so even
-- under concurrent writers. `when_ms` (epoch ms) or the telemetry columns are the condition;
-- telemetry is kept and shown but never enacted automatically. `enacted_at`/`enacted_by` or
-- `failed_at`/`failure` record how a completed change ended.
CREATE TABLE scheduled_changes (
    sc_id               INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name          TEXT NOT NULL,
    change_type         TEXT NOT NULL CHECK (change_type IN ('insert', 'update', 'delete')),
    object_key          TEXT,
    base_row            TEXT NOT NULL,
    base_data_version   BIGINT,
    when_ms             BIGINT,
    telemetry_product   TEXT,
    telemetry_channel   TEXT,
    telemetry_uptake    BIGINT,
    scheduled_by        TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    complete            BOOLEAN NOT NULL,
    sc_data_version     BIGINT NOT NULL,
    enacted_at          BIGINT,
    enacted_by          TEXT,
    failed_at           BIGINT,
    failure             TEXT
);
CREATE UNIQUE INDEX scheduled_changes_pending_key
    ON scheduled_changes (table_name, object_key) WHERE NOT complete AND object_key IS NOT NULL;
CREATE INDEX scheduled_changes_due ON scheduled_changes (complete, when_ms);

-- Who signed a scheduled change off, with which role, and when: one role per user per change.
CREATE TABLE scheduled_change_signoffs (
    sc_id       BIGINT NOT NULL REFERENCES scheduled_changes (sc_id) ON DELETE CASCADE,
    username    TEXT NOT NULL,
    role        TEXT NOT NULL,
    signed_at   BIGINT NOT NULL,
    PRIMARY KEY (sc_id, username)
);
