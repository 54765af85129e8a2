//! Group commit of checkpoints on PostgreSQL, as River's batch completer
//! does for jobs: the checkpoints that contacts make at about the same time
//! go to one task, which commits what has queued together in one
//! transaction, its statements pipelined on one connection. With 64
//! contacts in flight, one commit and a few round trips serve all of them
//! instead of four round trips and a commit each.
//!
//! Only checkpoints that leave the contact as it was come here (see
//! `PostgresStore::checkpoint`): they write the position's own row, which
//! the worker holds the lease of, and lock no contact row, so a batch
//! cannot deadlock with an event applied meanwhile. Rows are written in key
//! order, as everywhere in this store. Each checkpoint stays conditional on
//! its lease: a lost lease answers `false` for that contact only.

use tokio::sync::{mpsc, oneshot};

use super::{checkpoint_tx, retryable, Pool, StoreError, Triggers, TRIES};
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
    let none = Triggers::default();
    let together: Result<Vec<bool>, StoreError> = async {
        transaction!(pool, |tx| async {
            let held = futures_util::future::join_all(
                batch
                    .iter()
                    .map(|p| checkpoint_tx(&tx, &p.worker, &p.checkpoint, &none, p.lease_ms)),
            )
            .await;
            held.into_iter().collect::<Result<Vec<bool>, StoreError>>()
        })
    }
    .await;
    match together {
        Ok(held) => held.into_iter().map(Ok).collect(),
        // One checkpoint that fails aborts the transaction of all: each on
        // its own then, so that only the one at fault reports an error.
        Err(_) if batch.len() > 1 => {
            let mut results = Vec::with_capacity(batch.len());
            for p in batch {
                results.push(
                    async {
                        transaction!(pool, |tx| checkpoint_tx(
                            &tx,
                            &p.worker,
                            &p.checkpoint,
                            &none,
                            p.lease_ms
                        ))
                    }
                    .await,
                );
            }
            results
        }
        Err(e) => vec![Err(e)],
    }
}
