DROP TABLE callback_secret;
DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id IN (SELECT id FROM webhooks WHERE release_id IS NOT NULL));
DELETE FROM webhook_deliveries WHERE webhook_id IN (SELECT id FROM webhooks WHERE release_id IS NOT NULL);
DELETE FROM webhooks WHERE release_id IS NOT NULL;
DROP INDEX webhooks_release_idx;
ALTER TABLE webhooks DROP COLUMN release_id;
ALTER TABLE releases DROP COLUMN callback;
