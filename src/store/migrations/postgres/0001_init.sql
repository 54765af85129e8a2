-- The server's tables on PostgreSQL: the same columns as the SQLite schema
-- (src/store/sqlite/mod.rs), times as Unix milliseconds, JSON as jsonb so that
-- an operator can query fields and tags.
CREATE TABLE revisions (
    campaign  TEXT NOT NULL,
    revision  BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    source    TEXT NOT NULL,
    bytecode  TEXT NOT NULL,
    loaded_ms BIGINT NOT NULL,
    PRIMARY KEY (campaign, revision),
    UNIQUE (campaign, hash)
);

CREATE TABLE contacts (
    id         TEXT PRIMARY KEY,
    fields     JSONB NOT NULL,
    tags       JSONB NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- A contact's place in a campaign. Claimed with FOR UPDATE SKIP LOCKED
-- through positions_due; every later write is conditional on locked_by.
CREATE TABLE positions (
    campaign    TEXT NOT NULL,
    contact     TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    entry       TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('active', 'waiting', 'done', 'failed')),
    pc          BIGINT NOT NULL,
    step        TEXT,
    wake_at     BIGINT,
    resume_at   BIGINT,
    locked_by   TEXT,
    lease_until BIGINT,
    attempts    BIGINT NOT NULL,
    vm          JSONB NOT NULL,
    error_code  TEXT,
    error       TEXT,
    entered_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (campaign, contact)
);
CREATE INDEX positions_due ON positions (wake_at) WHERE state IN ('active', 'waiting');
CREATE INDEX positions_contact ON positions (contact);
CREATE INDEX positions_revision ON positions (campaign, revision, state);
CREATE INDEX positions_locked ON positions (locked_by) WHERE locked_by IS NOT NULL;

-- Inbound deliveries, kept for their delivery id: the unique constraint is
-- what refuses a replay.
CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe      TEXT UNIQUE,
    source      TEXT NOT NULL,
    contact     TEXT NOT NULL,
    received_ms BIGINT NOT NULL
);
CREATE INDEX events_received ON events (received_ms);

CREATE TABLE attempts (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign TEXT NOT NULL,
    contact  TEXT NOT NULL,
    revision BIGINT NOT NULL,
    step     TEXT NOT NULL,
    attempt  BIGINT NOT NULL,
    key      TEXT NOT NULL,
    status   BIGINT,
    error    TEXT,
    ms       DOUBLE PRECISION NOT NULL,
    at_ms    BIGINT NOT NULL
);
CREATE INDEX attempts_at ON attempts (at_ms);
