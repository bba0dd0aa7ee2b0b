-- "Releases with a package named X" (Orlo's `package_name` filter, and its total count) reads
-- the release ids of every package with that name. With `release_id` in this index the read is
-- the index alone, not one table lookup a package (measured on SQLite with 100,000 releases: a
-- common name's page and count took 13.8 and 7.8 ms before, 9.3 and 3.2 ms after). The columns
-- before it are unchanged, so every query that used the index still does. Rebuilding the index
-- holds the packages table's write lock for as long as that takes on a large database.
DROP INDEX packages_name_status_stime_idx;
CREATE INDEX packages_name_status_stime_idx ON packages (name, status, stime, release_id);
