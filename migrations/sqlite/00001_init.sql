-- +goose Up
-- meta holds the store's counters in one row: the last committed revision and
-- the revision below which history has been compacted. SQLite has one writer;
-- writes run in BEGIN IMMEDIATE transactions, so revisions are handed out
-- gap-free and in commit order.
CREATE TABLE meta (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    revision         INTEGER NOT NULL,
    compact_revision INTEGER NOT NULL
);
INSERT INTO meta (id, revision, compact_revision) VALUES (1, 0, 0);

-- revisions: one row per change, append-only (compaction aside). value is the
-- whole object as JSON text; at is the commit time as RFC 3339 UTC text with
-- microseconds, so that it sorts and compares as text.
CREATE TABLE revisions (
    revision        INTEGER PRIMARY KEY,
    resource        TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    op              TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    create_revision INTEGER NOT NULL,
    prev_revision   INTEGER NOT NULL,
    value           TEXT NOT NULL,
    actor           TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX revisions_key ON revisions (resource, namespace, name, revision);
CREATE INDEX revisions_at ON revisions (at);

-- objects: the current state, one row per live object.
CREATE TABLE objects (
    resource        TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    value           TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE objects;
DROP TABLE revisions;
DROP TABLE meta;
