DROP TABLE scheduled_change_signoffs;
DROP TABLE scheduled_changes;
