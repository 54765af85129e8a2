//! `campaign serve`: campaigns that run live. Contacts enter through
//! inbound webhooks, the contacts API and `campaign enroll`; the engine
//! ([`engine`](mod@engine)) runs them with the VM and the run's own sender, parks them
//! at waits in the database ([`crate::store`]), and wakes them when the
//! wait ends or a goal pulls them forward.
//!
//! - [`campaigns`], the loaded revisions and their triggers.
//! - [`engine`](mod@engine), claiming and running positions.
//! - [`http`], the routes.
//! - [`map`], the live map at `GET /`.
//! - [`metrics`], for `/metrics`.

pub mod campaigns;
pub mod engine;
pub mod http;
pub mod map;
pub mod metrics;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::compile::instructions::Program;
use crate::deliver::sender::Shared;
use crate::deliver::{secrets, DeliverError};
use crate::diagnostics::SourceFile;
use crate::request;
use crate::store::{Store, StoreError};
use crate::syntax::ast::Campaign;
use campaigns::{Catalog, Loaded};
use engine::{Clock, Engine};

/// A campaign that passed `check`, ready to load.
pub struct Source {
    /// Its file.
    pub file: PathBuf,
    /// The parsed tree (step places come from it).
    pub campaign: Campaign,
    /// The program.
    pub program: Program,
    /// The text.
    pub source: SourceFile,
}

/// Why the server could not start or went down.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Secrets or signing keys.
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    /// Secrets.
    #[error(transparent)]
    Secrets(#[from] secrets::SecretsError),
    /// Two files hold campaigns of the same name.
    #[error("two files define campaign {name:?}: {first} and {second}; a campaign's name identifies it in the database")]
    SameName {
        /// The name.
        name: String,
        /// One file.
        first: String,
        /// The other.
        second: String,
    },
    /// Two campaigns serve the same webhook path.
    #[error("campaigns {first:?} and {second:?} both have `trigger webhook_received {path:?}`")]
    SamePath {
        /// The path.
        path: String,
        /// One campaign.
        first: String,
        /// The other.
        second: String,
    },
    /// A verification secret is not usable.
    #[error(
        "campaign {campaign:?}: the verify secret {name} is not a whsec_ base64 key ({reason})"
    )]
    VerifyKey {
        /// The campaign.
        campaign: String,
        /// The secret's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The listening socket.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A stored revision no longer compiles.
    #[error(
        "stored revision {revision} of {campaign:?} does not compile with this campaign version"
    )]
    Stored {
        /// The campaign.
        campaign: String,
        /// The revision.
        revision: i64,
    },
}

/// How the server runs.
#[derive(Clone)]
pub struct Options {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Contacts run at once.
    pub concurrency: usize,
    /// Overall send rate.
    pub rate: Option<crate::deliver::rate::Rate>,
    /// `--env-file`.
    pub env_file: Option<PathBuf>,
    /// Let `dynamic host` webhooks reach private addresses.
    pub allow_private: bool,
    /// The API token; `None` turns the API off.
    pub token: Option<String>,
    /// A token that opens the live map and nothing else.
    pub map_token: Option<String>,
    /// The long-term retry schedule.
    pub retry_schedule: Vec<Duration>,
    /// How long in-flight work may take to finish at shutdown.
    pub grace: Duration,
    /// How long finished positions and send attempts are kept (`None`:
    /// for ever).
    pub retention: Option<Duration>,
    /// The engine's clock.
    pub clock: Clock,
    /// How long a claimed contact's lease lasts without a renewal.
    pub lease: Duration,
}

/// Compiles a stored revision again (a contact pinned to it woke after a
/// restart).
pub fn compile_stored(text: &str) -> Option<(Campaign, Program)> {
    let campaign = crate::syntax::parser::parse(text).ok()?;
    let compiled = crate::compile(text, None).ok()?;
    Some((campaign, compiled.program))
}

/// Loads `source` as revision `revision`, its secrets from the environment
/// and `env_file`.
fn load(
    campaign: &Campaign,
    program: Program,
    source: SourceFile,
    revision: i64,
    env_file: Option<&std::path::Path>,
    shared: &Shared,
) -> Result<Loaded, ServeError> {
    let values = secrets::load(&program.secrets, env_file)?;
    let loaded = Loaded::new(campaign, program, source, revision, values, shared)?;
    loaded.check_hook_keys()?;
    Ok(loaded)
}

/// Builds the engine: stores every campaign's revision (a new one when its
/// text changed) and loads it as the newest.
pub async fn engine<S: Store>(
    store: Arc<S>,
    sources: Vec<Source>,
    options: &Options,
    stopping: Arc<AtomicBool>,
) -> Result<Arc<Engine<S>>, ServeError> {
    let shared = Shared {
        http: crate::deliver::http::Http::new(options.concurrency, options.allow_private)
            .map_err(DeliverError::from)?,
        limiter: options
            .rate
            .map(|r| Arc::new(crate::deliver::rate::RateLimiter::new(r))),
        stopping: stopping.clone(),
    };
    let env_file = options.env_file.clone();
    let loader_shared = shared.clone();
    let loader = move |campaign: &str, revision: i64, text: &str| {
        let (tree, program) = compile_stored(text).ok_or_else(|| {
            ServeError::Stored {
                campaign: campaign.to_string(),
                revision,
            }
            .to_string()
        })?;
        let source = SourceFile::new(format!("{campaign} (revision {revision})"), text);
        load(
            &tree,
            program,
            source,
            revision,
            env_file.as_deref(),
            &loader_shared,
        )
        .map(Arc::new)
        .map_err(|e| e.to_string())
    };
    let engine = Arc::new(Engine {
        store,
        catalog: RwLock::new(Catalog::default()),
        worker: format!("{}-{:08x}", std::process::id(), fastrand::u32(..)),
        concurrency: options.concurrency.max(1),
        lease_ms: options.lease.as_millis().max(1) as i64,
        retry_schedule: options.retry_schedule.clone(),
        clock: options.clock.clone(),
        wake: tokio::sync::Notify::new(),
        stopping,
        metrics: metrics::Metrics::default(),
        loader: Box::new(loader),
        shared,
        env_file: options.env_file.clone(),
    });
    install(&engine, sources).await?;
    Ok(engine)
}

/// Makes `sources` the campaigns served: each is stored as a revision (a
/// new one when its text changed) and becomes its campaign's newest, which
/// new contacts enter. Contacts already in a campaign stay on the revision
/// they entered. All or nothing: on an error nothing changes.
pub async fn install<S: Store>(
    engine: &Arc<Engine<S>>,
    sources: Vec<Source>,
) -> Result<(), ServeError> {
    let mut files: HashMap<String, PathBuf> = HashMap::new();
    let mut fresh: Vec<(String, i64, Arc<Loaded>)> = Vec::new();
    for s in sources {
        let name = s.program.name.clone();
        if let Some(first) = files.get(&name) {
            return Err(ServeError::SameName {
                name,
                first: first.display().to_string(),
                second: s.file.display().to_string(),
            });
        }
        files.insert(name.clone(), s.file.clone());
        let hash = request::campaign_digest(&s.source.text);
        let revision = engine
            .store
            .save_revision(&name, &hash, &s.source.text, &s.program.listing())
            .await?;
        let existing = engine
            .catalog_read()
            .loaded
            .get(&(name.clone(), revision))
            .cloned();
        let loaded = match existing {
            Some(l) => l,
            None => Arc::new(load(
                &s.campaign,
                s.program,
                s.source,
                revision,
                engine.env_file.as_deref(),
                &engine.shared,
            )?),
        };
        for hook in &loaded.hooks {
            if let Some((other, _, _)) = fresh
                .iter()
                .find(|(_, _, l)| l.hooks.iter().any(|h| h.path == hook.path))
            {
                return Err(ServeError::SamePath {
                    path: hook.path.clone(),
                    first: other.to_string(),
                    second: name,
                });
            }
        }
        fresh.push((name, revision, loaded));
    }
    let mut catalog = engine.catalog.write().unwrap_or_else(|e| e.into_inner());
    catalog.current.clear();
    catalog.files = files;
    for (name, revision, loaded) in fresh {
        catalog.current.insert(name.clone(), revision);
        catalog.loaded.insert((name, revision), loaded);
    }
    Ok(())
}

/// Serves until `shutdown` resolves: stops accepting requests, lets the
/// contacts in flight finish their current step (within the grace
/// period), and returns.
pub async fn serve<S: Store>(
    engine: Arc<Engine<S>>,
    options: &Options,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    engine.store.release_all().await?;
    let app = Arc::new(http::App {
        engine: engine.clone(),
        token: options.token.clone(),
        map: map::Map::new(options.token.iter().chain(&options.map_token).cloned()),
    });
    let router = http::router(app);
    let timers = tokio::spawn(engine.clone().run_forever());
    let renewer = tokio::spawn(engine.clone().renew_leases());
    let pruner = {
        let engine = engine.clone();
        let retention = options.retention;
        tokio::spawn(async move {
            loop {
                // Delivery ids are kept for the 24 hours replays are refused in.
                let day_ago = engine.clock.now_ms() - 24 * 3600 * 1000;
                let finished = retention.map(|r| engine.clock.now_ms() - r.as_millis() as i64);
                if let Err(e) = engine.store.prune(day_ago, finished).await {
                    tracing::warn!(error = %e, "pruning old rows failed");
                }
                tokio::time::sleep(Duration::from_secs(600)).await;
            }
        })
    };
    let stopping = engine.stopping.clone();
    let wake = engine.clone();
    accept(
        listener,
        router,
        async move {
            shutdown.await;
            stopping.store(true, Ordering::Relaxed);
            wake.wake.notify_one();
        },
        options.grace,
    )
    .await;
    pruner.abort();
    // In-flight contacts finish their current step; a request waiting for
    // a retry gives up its slot (the sender sees `stopping`).
    if tokio::time::timeout(options.grace, timers).await.is_err() {
        tracing::warn!(grace_s = options.grace.as_secs(), "contacts still in flight at the end of the grace period; they resume from their last checkpoint at the next start");
    }
    renewer.abort();
    Ok(())
}

/// Most connections served at once: past it, new ones wait in the
/// kernel's backlog, so 10,000 clients cost the memory of this many.
pub const MAX_CONNECTIONS: usize = 2048;
/// How long a client may take to send a request's head: a client that
/// trickles its headers (slowloris) is cut off.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head (request line and headers) read; a bigger one
/// gets 431.
pub const MAX_HEAD: usize = 64 << 10;
/// How long a whole request may take, body included; then 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// requests in progress finish (for at most `grace`).
async fn accept(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let router = router.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        REQUEST_TIMEOUT,
    ));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_HEAD)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still open at the end of the grace period were cut off");
    }
}

#[cfg(test)]
mod tests;
