-- Webhook subscriptions and their deliveries (docs/events.md).
-- `secret` is kept (not hashed) because it signs every delivery; it is shown once, at creation.
-- `event_cursor` is the last event id fanned out into deliveries. `lease_owner`/`lease_until`
-- let exactly one instance work a subscription at a time; a dead instance's lease runs out.
CREATE TABLE webhooks (
    id              BIGSERIAL PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    filters         TEXT NOT NULL,
    description     TEXT,
    secret          TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    disabled_reason TEXT,
    event_cursor    BIGINT NOT NULL,
    failing_since   TIMESTAMP,
    lease_owner     TEXT,
    lease_until     TIMESTAMP NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX webhooks_lease_idx ON webhooks (lease_until, id);

-- One message to one subscription; `message_id` is the webhook-id header, the same on every
-- attempt. `event_id` is NULL for test pings.
CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    webhook_id      BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        BIGINT,
    message_id      TEXT NOT NULL,
    type            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (webhook_id, state, next_attempt_at, id);

-- Every attempt, for GET …/deliveries.
CREATE TABLE webhook_attempts (
    id              BIGSERIAL PRIMARY KEY,
    delivery_id     BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at    TIMESTAMP NOT NULL,
    status          INTEGER,
    duration_ms     BIGINT NOT NULL,
    error           TEXT,
    next_attempt_at TIMESTAMP,
    instance        TEXT NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
