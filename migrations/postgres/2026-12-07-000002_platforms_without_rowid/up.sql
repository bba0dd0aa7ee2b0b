-- SQLite only (a release's platforms become a `WITHOUT ROWID` table there; see the SQLite
-- migration). A PostgreSQL table has no rowid: nothing changes here.
SELECT 1;
