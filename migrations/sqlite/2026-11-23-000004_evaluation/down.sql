DROP TABLE ruleset_version;
DROP TABLE emergency_shutoffs;
