//! Group commit of checkpoints on PostgreSQL, as River's batch completer
//! does for jobs: the checkpoints that contacts make at about the same time
//! go to one task, which commits what has queued together in one
//! transaction of three statements over arrays (`UNNEST`). With 64
//! contacts in flight, one commit and a few round trips serve all of them
//! instead of four round trips and a commit each.
//!
//! Only checkpoints that leave the contact as it was come here (see
//! `PostgresStore::checkpoint`): they write the position's own row, which
//! the worker holds the lease of, and lock no contact row, so a batch
//! cannot deadlock with an event applied meanwhile. Rows are written in key
//! order, as everywhere in this store. Each checkpoint stays conditional on
//! its lease: a lost lease answers `false` for that contact only.

use std::collections::HashSet;

use tokio::sync::{mpsc, oneshot};

use super::{
    checkpoint_tx, corrupt, now_ms, retryable, Pool, State, StoreError, Triggers, Tx, TRIES,
};
use crate::store::Checkpoint;

/// At most this many checkpoints share a transaction.
const MAX_BATCH: usize = 256;

/// A checkpoint waiting for its commit.
pub(super) struct Pending {
    pub worker: String,
    pub checkpoint: Checkpoint,
    pub lease_ms: i64,
    pub reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// Starts the committer on the current runtime; it ends when every sender
/// is gone.
pub(super) fn start(pool: Pool) -> mpsc::UnboundedSender<Pending> {
    let (queue, pending) = mpsc::unbounded_channel();
    tokio::spawn(run(pool, pending));
    queue
}

async fn run(pool: Pool, mut pending: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        batch.sort_by(|a: &Pending, b: &Pending| {
            let (a, b) = (&a.checkpoint.position, &b.checkpoint.position);
            (&a.campaign, &a.contact).cmp(&(&b.campaign, &b.contact))
        });
        let results = commit(&pool, &batch).await;
        for (p, result) in batch.drain(..).zip(results) {
            // A caller that went away (the engine stopping) needs no answer.
            let _ = p.reply.send(result);
        }
    }
}

/// One result per checkpoint of `batch`, in its order.
async fn commit(pool: &Pool, batch: &[Pending]) -> Vec<Result<bool, StoreError>> {
    // A contact checkpoints again only after its last one was answered,
    // so a key appears once; should it not, each goes on its own.
    if batch.windows(2).any(|w| key(&w[0]) == key(&w[1])) {
        return one_by_one(pool, batch).await;
    }
    match async { transaction!(pool, |tx| write(&tx, batch)) }.await {
        Ok(held) => held.into_iter().map(Ok).collect(),
        // One checkpoint that fails aborts the transaction of all: each on
        // its own then, so that only the one at fault reports an error.
        Err(_) if batch.len() > 1 => one_by_one(pool, batch).await,
        Err(e) => vec![Err(e)],
    }
}

async fn one_by_one(pool: &Pool, batch: &[Pending]) -> Vec<Result<bool, StoreError>> {
    let none = Triggers::default();
    let mut results = Vec::with_capacity(batch.len());
    for p in batch {
        let alone = async {
            transaction!(pool, |tx| checkpoint_tx(
                &tx,
                &p.worker,
                &p.checkpoint,
                &none,
                p.lease_ms
            ))
        };
        results.push(alone.await);
    }
    results
}

fn key(p: &Pending) -> (&str, &str) {
    let position = &p.checkpoint.position;
    (&position.campaign, &position.contact)
}

/// What `checkpoint_tx` does for one checkpoint that leaves the contact
/// alone, for the whole batch in three statements over arrays: the
/// positions (each conditional on its worker's lease), the attempts of
/// those whose lease held, and the wake-up of those parked at a wait whose
/// contact changed since their claim.
async fn write(tx: &Tx<'_>, batch: &[Pending]) -> Result<Vec<bool>, StoreError> {
    let now = now_ms();
    let n = batch.len();
    let mut campaign = Vec::with_capacity(n);
    let mut contact = Vec::with_capacity(n);
    let mut worker = Vec::with_capacity(n);
    let mut state = Vec::with_capacity(n);
    let mut pc = Vec::with_capacity(n);
    let mut step = Vec::with_capacity(n);
    let mut wake_at = Vec::with_capacity(n);
    let mut resume_at = Vec::with_capacity(n);
    let mut attempts = Vec::with_capacity(n);
    let mut vm = Vec::with_capacity(n);
    let mut error_code = Vec::with_capacity(n);
    let mut error = Vec::with_capacity(n);
    let mut locked_by = Vec::with_capacity(n);
    let mut lease_until = Vec::with_capacity(n);
    let mut revision = Vec::with_capacity(n);
    for p in batch {
        let position = &p.checkpoint.position;
        campaign.push(position.campaign.as_str());
        contact.push(position.contact.as_str());
        worker.push(p.worker.as_str());
        state.push(position.state.as_str());
        pc.push(i64::from(position.pc));
        step.push(position.step.as_deref());
        wake_at.push(position.wake_at);
        resume_at.push(position.resume_at);
        attempts.push(i64::from(position.attempts));
        vm.push(serde_json::to_string(&position.vm).map_err(corrupt("position's VM state"))?);
        error_code.push(position.error_code.as_deref());
        error.push(position.error.as_deref());
        let keep = !p.checkpoint.release;
        locked_by.push(keep.then_some(p.worker.as_str()));
        lease_until.push(keep.then_some(now + p.lease_ms));
        revision.push(position.revision);
    }
    let rows = tx
        .query(
            &tx.prepare_cached(
                "UPDATE positions p SET state = u.state, pc = u.pc, step = u.step,
                 wake_at = u.wake_at, resume_at = u.resume_at, attempts = u.attempts,
                 vm = u.vm::jsonb, error_code = u.error_code, error = u.error, updated_ms = $16,
                 locked_by = u.locked_by, lease_until = u.lease_until, revision = u.revision
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                      $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[],
                      $11::text[], $12::text[], $13::text[], $14::bigint[], $15::bigint[])
                 AS u(campaign, contact, worker, state, pc, step, wake_at, resume_at, attempts,
                      vm, error_code, error, locked_by, lease_until, revision)
                 WHERE p.campaign = u.campaign AND p.contact = u.contact
                 AND p.locked_by = u.worker
                 RETURNING p.campaign, p.contact",
            )
            .await?,
            &[
                &campaign,
                &contact,
                &worker,
                &state,
                &pc,
                &step,
                &wake_at,
                &resume_at,
                &attempts,
                &vm,
                &error_code,
                &error,
                &locked_by,
                &lease_until,
                &revision,
                &now,
            ],
        )
        .await?;
    let written: HashSet<(&str, &str)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let held: Vec<bool> = batch.iter().map(|p| written.contains(&key(p))).collect();

    let mut a = AttemptColumns::default();
    for (p, _) in batch.iter().zip(&held).filter(|(_, held)| **held) {
        let position = &p.checkpoint.position;
        for attempt in &p.checkpoint.attempts {
            a.campaign.push(position.campaign.as_str());
            a.contact.push(position.contact.as_str());
            a.revision.push(position.revision);
            a.step.push(attempt.step.as_str());
            a.attempt.push(i64::from(attempt.attempt));
            a.key.push(attempt.key.as_str());
            a.status.push(attempt.status.map(i64::from));
            a.error.push(attempt.error.as_deref());
            a.ms.push(attempt.ms);
        }
    }
    if !a.campaign.is_empty() {
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO attempts (campaign, contact, revision, step, attempt, key, status,
                 error, ms, at_ms)
                 SELECT *, $10 FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[],
                      $5::bigint[], $6::text[], $7::bigint[], $8::text[], $9::float8[])",
            )
            .await?,
            &[
                &a.campaign,
                &a.contact,
                &a.revision,
                &a.step,
                &a.attempt,
                &a.key,
                &a.status,
                &a.error,
                &a.ms,
                &now,
            ],
        )
        .await?;
    }

    // Changed while this worker ran it: check its goals now.
    let (mut w_campaign, mut w_contact, mut w_claimed) = (Vec::new(), Vec::new(), Vec::new());
    for (p, _) in batch.iter().zip(&held).filter(|(_, held)| **held) {
        let position = &p.checkpoint.position;
        if position.state == State::Waiting {
            w_campaign.push(position.campaign.as_str());
            w_contact.push(position.contact.as_str());
            w_claimed.push(p.checkpoint.claimed_ms);
        }
    }
    if !w_campaign.is_empty() {
        tx.execute(
            &tx.prepare_cached(
                "UPDATE positions p SET wake_at = $3
                 FROM UNNEST($1::text[], $2::text[], $4::bigint[]) AS w(campaign, contact, claimed_ms)
                 WHERE p.campaign = w.campaign AND p.contact = w.contact AND p.wake_at > $3
                 AND EXISTS (SELECT 1 FROM contacts c
                             WHERE c.id = w.contact AND c.updated_ms >= w.claimed_ms)",
            )
            .await?,
            &[&w_campaign, &w_contact, &now, &w_claimed],
        )
        .await?;
    }
    Ok(held)
}

/// The attempts of a batch, column by column.
#[derive(Default)]
struct AttemptColumns<'a> {
    campaign: Vec<&'a str>,
    contact: Vec<&'a str>,
    revision: Vec<i64>,
    step: Vec<&'a str>,
    attempt: Vec<i64>,
    key: Vec<&'a str>,
    status: Vec<Option<i64>>,
    error: Vec<Option<&'a str>>,
    ms: Vec<f64>,
}
