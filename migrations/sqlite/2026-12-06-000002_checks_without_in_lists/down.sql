-- The CHECKs' `IN` lists again (see up.sql).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (status = ''NOT_STARTED'' OR status = ''IN_PROGRESS'' OR status = ''SUCCESSFUL'' OR status = ''FAILED'')',
                          'CHECK (status IN (''NOT_STARTED'', ''IN_PROGRESS'', ''SUCCESSFUL'', ''FAILED''))')
 WHERE type = 'table' AND name IN ('releases', 'packages');
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (name = ''product'' OR name = ''channel'' OR name = ''platform'' OR name = ''team'')',
                          'CHECK (name IN (''product'', ''channel'', ''platform'', ''team''))')
 WHERE type = 'table' AND name IN ('event_tags');
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (state = ''pending'' OR state = ''delivered'' OR state = ''failed'')',
                          'CHECK (state IN (''pending'', ''delivered'', ''failed''))')
 WHERE type = 'table' AND name IN ('webhook_deliveries');
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (change_type = ''insert'' OR change_type = ''update'' OR change_type = ''delete'')',
                          'CHECK (change_type IN (''insert'', ''update'', ''delete''))')
 WHERE type = 'table' AND name IN ('scheduled_changes');
PRAGMA writable_schema = OFF;
-- Any schema change moves the schema's version, which makes other connections reload it.
CREATE TABLE shiplog_schema_reload (x INTEGER);
DROP TABLE shiplog_schema_reload;
