-- SQLite only (its CHECKs with `IN` lists built a temporary index on every write; see the
-- SQLite migration). PostgreSQL tests such a list without one: nothing changes here.
SELECT 1;
