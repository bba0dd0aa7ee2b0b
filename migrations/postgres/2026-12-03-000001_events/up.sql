-- The outbox: one row per change, written in the change's own transaction (docs/events.md).
-- Ids are handed out under a transaction-scoped advisory lock held to commit, so they become
-- visible in increasing order and an `after=<id>` cursor never skips a late commit.
CREATE TABLE events (
    id          BIGINT PRIMARY KEY,
    type        TEXT COLLATE "C" NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor       TEXT,
    data        TEXT NOT NULL
);
CREATE SEQUENCE events_id_seq OWNED BY events.id;
CREATE INDEX events_type_idx ON events (type, id);

-- The filterable facts of an event. A release has several platforms and a permission several
-- products, so each value is a row: (name, value) finds the events in id order.
CREATE TABLE event_tags (
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name     TEXT COLLATE "C" NOT NULL CHECK (name IN ('product', 'channel', 'platform', 'team')),
    value    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (name, value, event_id)
);
CREATE INDEX event_tags_event_idx ON event_tags (event_id);
