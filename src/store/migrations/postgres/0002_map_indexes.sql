-- The live map (`GET /` of `campaign serve`) reads one revision's send
-- attempts per webhook and its newest failures every few seconds: without
-- these, both would read every row of their table. SQLite runs the same
-- statements (src/store/sqlite/mod.rs).
CREATE INDEX attempts_revision ON attempts (campaign, revision, step);
CREATE INDEX positions_failed ON positions (campaign, revision, updated_ms) WHERE state = 'failed';
