-- pg_trgm stays installed: other schemas or applications on the database may use it.
DROP TABLE ticket_comments;
DROP TABLE tickets;
