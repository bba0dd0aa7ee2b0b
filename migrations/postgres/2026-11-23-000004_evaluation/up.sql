-- Rule evaluation: emergency shutoffs, and the counter that tells a serving instance its
-- in-memory rule set is stale.
--
-- A shutoff stops every update for one (product, channel); it has a data_version and history
-- records (table name `emergency_shutoffs` in `changes`) like rules.
CREATE TABLE emergency_shutoffs (
    product      TEXT COLLATE "C" NOT NULL,
    channel      TEXT COLLATE "C" NOT NULL,
    comment      TEXT,
    data_version BIGINT NOT NULL,
    PRIMARY KEY (product, channel)
);

-- One row, bumped in the same transaction as every write to rules, named releases and shutoffs
-- (every write that leaves a history record). MAX(change_id) is no safe watermark on
-- PostgreSQL: sequence values are taken before commit, so a lower id can commit after a higher
-- one has been seen. A counter updated under its row lock commits in order.
CREATE TABLE ruleset_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO ruleset_version (id, version) VALUES (1, 0);
