-- +goose Up
-- meta holds the store's counters in one row: the last committed revision and
-- the revision below which history has been compacted. Writers lock this row
-- (SELECT ... FOR UPDATE) until they commit, so revisions are handed out
-- gap-free and become visible in revision order, even with several servers.
CREATE TABLE meta (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    revision         BIGINT NOT NULL,
    compact_revision BIGINT NOT NULL
);
INSERT INTO meta (id, revision, compact_revision) VALUES (1, 0, 0);

-- revisions: one row per change, append-only (compaction aside).
CREATE TABLE revisions (
    revision        BIGINT PRIMARY KEY,
    resource        TEXT COLLATE "C" NOT NULL,
    namespace       TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    op              TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    create_revision BIGINT NOT NULL,
    prev_revision   BIGINT NOT NULL,
    value           JSONB NOT NULL,
    actor           TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX revisions_key ON revisions (resource, namespace, name, revision);
CREATE INDEX revisions_at ON revisions (at);

-- objects: the current state, one row per live object.
CREATE TABLE objects (
    resource        TEXT COLLATE "C" NOT NULL,
    namespace       TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    revision        BIGINT NOT NULL,
    create_revision BIGINT NOT NULL,
    value           JSONB NOT NULL,
    PRIMARY KEY (resource, namespace, name)
);

-- +goose Down
DROP TABLE objects;
DROP TABLE revisions;
DROP TABLE meta;
