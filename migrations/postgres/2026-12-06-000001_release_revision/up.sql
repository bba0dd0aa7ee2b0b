-- How many times a ledger release has changed since it was recorded: every change of the release
-- or of its packages, notes and metadata adds one. A change reads the release whole, works out
-- what it writes, and writes only if the revision is still the one it read, moving it on in the
-- same statement; a change that lost the race reads again. On PostgreSQL that replaces the row
-- lock a change held across its read and its write, and with it the transaction's round trips.
-- A constant default: adding the column rewrites no row on either database.
ALTER TABLE releases ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
