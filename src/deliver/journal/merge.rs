//! The merge: during a run the writer only appends to the `pending_*`
//! tables; the next open moves those rows, sorted, into the lookup tables
//! that a resume reads by primary key (see the module docs of
//! [`super`] for why).

use rusqlite::Connection;

/// Moves the pending rows into the lookup tables, in key order (so each
/// lookup page is written once per merge) and, for one key, in recording
/// order: a later contact status or delivery replaces an earlier one, while
/// the first recorded time of a wait stands. `WHERE true` is SQLite's
/// required disambiguation for an upsert fed by a SELECT.
const MERGE: &str = "
INSERT INTO contacts (contact, status, steps, error, updated_ms)
    SELECT contact, status, steps, error, updated_ms FROM pending_contacts
    WHERE true ORDER BY contact, id
    ON CONFLICT (contact) DO UPDATE
    SET status = excluded.status, steps = excluded.steps,
        error = excluded.error, updated_ms = excluded.updated_ms;
DELETE FROM pending_contacts;
INSERT INTO deliveries (contact, webhook, key, status, captures)
    SELECT contact, webhook, key, status, captures FROM pending_deliveries
    WHERE true ORDER BY contact, webhook, id
    ON CONFLICT (contact, webhook) DO UPDATE
    SET key = excluded.key, status = excluded.status, captures = excluded.captures;
DELETE FROM pending_deliveries;
INSERT INTO waits (contact, idx, resume_at_ms)
    SELECT contact, idx, resume_at_ms FROM pending_waits
    WHERE true ORDER BY contact, idx, id
    ON CONFLICT (contact, idx) DO NOTHING;
DELETE FROM pending_waits;
";

/// Every contact's current record, whether merged or still pending (the
/// latest pending row wins: SQLite takes bare columns from the `MAX(id)` row).
/// For readers that cannot merge, i.e. [`summary`](super::summary) on a read-only connection.
pub(super) const CURRENT_CONTACTS: &str = "
WITH latest AS (
    SELECT contact, status, steps, error, updated_ms, MAX(id)
    FROM pending_contacts GROUP BY contact
),
current AS (
    SELECT contact, status, steps, error, updated_ms FROM contacts
    WHERE contact NOT IN (SELECT contact FROM latest)
    UNION ALL
    SELECT contact, status, steps, error, updated_ms FROM latest
)";

/// Moves all pending rows into the lookup tables, in one transaction.
pub(super) fn merge(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN")?;
    conn.execute_batch(MERGE)?;
    conn.execute_batch("COMMIT")
}
