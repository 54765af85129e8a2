//! The scale-out baseline for benches/scale.sh: a bare PostgreSQL job loop
//! over campaign's own `positions` table, with no HTTP and no VM.
//!
//! WORKERS tasks, each on its own connection, loop until a claim comes back
//! empty: claim up to BATCH due rows with the statement shape campaign uses
//! (`WITH due AS (SELECT … ORDER BY wake_at LIMIT n FOR UPDATE SKIP LOCKED)
//! UPDATE … SET locked_by, lease_until … RETURNING`), then complete them,
//! every completion conditional on still holding the lease, as campaign's
//! writes are. Modes:
//! - `row`: one `UPDATE … WHERE campaign, contact AND locked_by` per row
//!   (what a worker that does something per row between claim and
//!   completion must do);
//! - `batch`: one `UPDATE … WHERE (campaign, contact) IN (claimed) AND
//!   locked_by` per claim: the loop's best version when nothing happens
//!   between claim and completion.
//!
//! Prints `rows seconds rows_per_s` on stdout; fails unless every row it
//! claimed was completed by the worker that claimed it.
//!
//! Usage: skiplocked URL WORKERS BATCH row|batch

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio_postgres::NoTls;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

const CLAIM: &str = "WITH due AS (
        SELECT campaign, contact FROM positions
        WHERE state IN ('active', 'waiting') AND wake_at <= $3
        AND (lease_until IS NULL OR lease_until < $3)
        ORDER BY wake_at LIMIT $4 FOR UPDATE SKIP LOCKED)
    UPDATE positions p SET locked_by = $1, lease_until = $2 FROM due
    WHERE p.campaign = due.campaign AND p.contact = due.contact
    RETURNING p.campaign, p.contact, p.pc, p.vm::text";

const COMPLETE_ROW: &str = "UPDATE positions SET state = 'done', pc = $4, wake_at = NULL,
        resume_at = NULL, locked_by = NULL, lease_until = NULL, updated_ms = $5
    WHERE campaign = $1 AND contact = $2 AND locked_by = $3";

const COMPLETE_BATCH: &str = "UPDATE positions SET state = 'done', pc = pc + 1, wake_at = NULL,
        resume_at = NULL, locked_by = NULL, lease_until = NULL, updated_ms = $4
    WHERE campaign = $1 AND contact = ANY($2) AND locked_by = $3";

async fn worker(url: String, id: usize, batch: i64, per_row: bool) -> u64 {
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(connection);
    let me = format!("bare-{id}");
    let claim = client.prepare(CLAIM).await.expect("prepare the claim");
    let complete = client
        .prepare(if per_row { COMPLETE_ROW } else { COMPLETE_BATCH })
        .await
        .expect("prepare the completion");
    let mut done = 0u64;
    loop {
        let now = now_ms();
        let rows = client
            .query(&claim, &[&me, &(now + 60_000), &now, &batch])
            .await
            .expect("claim");
        if rows.is_empty() {
            return done;
        }
        if per_row {
            for row in &rows {
                let campaign: &str = row.get(0);
                let contact: &str = row.get(1);
                let pc: i64 = row.get(2);
                let _vm: &str = row.get(3);
                let n = client
                    .execute(
                        &complete,
                        &[&campaign, &contact, &me, &(pc + 1), &now_ms()],
                    )
                    .await
                    .expect("complete");
                assert_eq!(n, 1, "{contact}: the lease was lost");
                done += 1;
            }
        } else {
            let campaign: String = rows[0].get(0);
            assert!(
                rows.iter().all(|r| r.get::<_, &str>(0) == campaign),
                "one campaign per benchmark database"
            );
            let contacts: Vec<&str> = rows.iter().map(|r| r.get(1)).collect();
            let n = client
                .execute(&complete, &[&campaign, &contacts, &me, &now_ms()])
                .await
                .expect("complete");
            assert_eq!(n as usize, rows.len(), "a lease was lost");
            done += n;
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 4 || !matches!(args[3].as_str(), "row" | "batch") {
        eprintln!("usage: skiplocked URL WORKERS BATCH row|batch");
        std::process::exit(2);
    }
    let workers: usize = args[1].parse().expect("WORKERS");
    let batch: i64 = args[2].parse().expect("BATCH");
    let per_row = args[3] == "row";
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|id| tokio::spawn(worker(args[0].clone(), id, batch, per_row)))
        .collect();
    let mut rows = 0;
    for task in tasks {
        rows += task.await.expect("worker");
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{rows} {seconds:.3} {:.0}", rows as f64 / seconds);
}
