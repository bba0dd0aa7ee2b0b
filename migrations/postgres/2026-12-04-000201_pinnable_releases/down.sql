-- Back to no pins: the `pinnable_release` grants cannot survive that.
DELETE FROM permissions WHERE permission = 'pinnable_release';
ALTER TABLE permissions DROP CONSTRAINT permissions_permission_check;
ALTER TABLE permissions ADD CONSTRAINT permissions_permission_check CHECK (permission IN (
    'admin', 'rule', 'release', 'release_locale', 'release_read_only', 'permission',
    'scheduled_change', 'required_signoff', 'emergency_shutoff', 'ledger', 'ticket',
    'webhook'));
DROP TABLE pinnable_releases;
