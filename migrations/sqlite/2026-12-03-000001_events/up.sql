-- The outbox: one row per change, written in the change's own transaction (docs/events.md).
-- SQLite runs one writer at a time, so ids (the next after the largest ever handed out) become
-- visible in increasing order and an `after=<id>` cursor never skips a late commit.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    type        TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor       TEXT,
    data        TEXT NOT NULL
);
CREATE INDEX events_type_idx ON events (type, id);

-- The filterable facts of an event. A release has several platforms and a permission several
-- products, so each value is a row: (name, value) finds the events in id order.
CREATE TABLE event_tags (
    event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name     TEXT NOT NULL CHECK (name IN ('product', 'channel', 'platform', 'team')),
    value    TEXT NOT NULL,
    PRIMARY KEY (name, value, event_id)
) WITHOUT ROWID;
CREATE INDEX event_tags_event_idx ON event_tags (event_id);
