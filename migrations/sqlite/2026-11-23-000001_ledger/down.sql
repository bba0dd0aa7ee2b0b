DROP TABLE release_metadata;
DROP TABLE release_notes;
DROP TABLE release_platforms;
DROP TABLE packages;
DROP TABLE releases;
