-- Bileto landing tickets and their comments (research/conventions.md §1).
-- AUTOINCREMENT so a request id is never reused, even for the highest one; explicit ids
-- (an import under the original request ids) move the sequence on by themselves.

CREATE TABLE tickets (
    request_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    date               TIMESTAMP NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    test_plan          TEXT NOT NULL DEFAULT '',
    merge_proposals    TEXT NOT NULL DEFAULT '',
    sources            TEXT NOT NULL DEFAULT '',
    landers            TEXT NOT NULL DEFAULT '',
    siloname           TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL DEFAULT '',
    qa_signoff         TEXT NOT NULL DEFAULT '',
    distribution       TEXT NOT NULL DEFAULT '',
    series             TEXT NOT NULL DEFAULT '',
    dest               TEXT NOT NULL DEFAULT '',
    sync_request       TEXT NOT NULL DEFAULT '',
    published_versions TEXT NOT NULL DEFAULT '',
    download_links     TEXT NOT NULL DEFAULT '',
    jenkins            TEXT NOT NULL DEFAULT '',
    -- Computed by the server on every write; see shiplog_domain::ticket.
    search             TEXT NOT NULL DEFAULT ''
);
-- Most tickets end Landed or Abandoned; the default listings read only the others.
CREATE INDEX tickets_active_idx ON tickets (request_id)
    WHERE status NOT IN ('Landed', 'Abandoned');
-- /v1/publishable: an exact status and sign-off.
CREATE INDEX tickets_status_qa_idx ON tickets (status, qa_signoff);

CREATE TABLE ticket_comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id BIGINT NOT NULL REFERENCES tickets (request_id) ON DELETE CASCADE,
    author     TEXT NOT NULL,
    date       TIMESTAMP NOT NULL,
    text       TEXT NOT NULL
);
CREATE INDEX ticket_comments_request_idx ON ticket_comments (request_id, id);
