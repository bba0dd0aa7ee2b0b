-- Release callbacks (docs/events.md): the URL a release's recorder gave, kept with the release;
-- its deliveries go through the webhook machinery as a hidden subscription row tied to the
-- release (`webhooks.release_id`, NULL for ordinary subscriptions), so they are durable,
-- retried and claimed by one instance like every webhook. One server-wide secret signs every
-- callback (`callback_secret`, a single row, made on first use).
ALTER TABLE releases ADD COLUMN callback TEXT;
ALTER TABLE webhooks ADD COLUMN release_id TEXT;
CREATE UNIQUE INDEX webhooks_release_idx ON webhooks (release_id);
CREATE TABLE callback_secret (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL
);
