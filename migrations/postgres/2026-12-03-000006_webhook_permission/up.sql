-- The `webhook` permission (managing /api/v1/webhooks without being an admin): the CHECK
-- constraint PostgreSQL named when the table was made is replaced; rows and indexes stay.
ALTER TABLE permissions DROP CONSTRAINT permissions_permission_check;
ALTER TABLE permissions ADD CONSTRAINT permissions_permission_check CHECK (permission IN (
    'admin', 'rule', 'release', 'release_locale', 'release_read_only', 'permission',
    'scheduled_change', 'required_signoff', 'emergency_shutoff', 'ledger', 'ticket',
    'webhook'));
