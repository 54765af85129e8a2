//! The inbound baseline for benches/serve.sh: a bare axum 0.7 server on
//! 127.0.0.1 (tokio's multi-threaded runtime, as `campaign serve`) that
//! answers every `POST` on any path.
//!
//! Modes:
//! - `null`: reads the body and answers 202; nothing else (the load
//!   generator's own ceiling on this machine);
//! - `single`: verifies the Standard Webhooks signature (the same checks as
//!   campaign's: the three headers, the timestamp within 300 s, HMAC-SHA256
//!   over `id.timestamp.body`, every `v1,` entry, constant-time compare),
//!   then inserts the raw event (delivery id, timestamp, signature, body)
//!   in its own immediate transaction on one connection (a Mutex, on
//!   tokio's blocking pool), and answers 202 after the commit; a repeated
//!   delivery id is refused by a UNIQUE column and answered 200;
//! - `batch`: the same checks and rows, but a writer thread commits what
//!   has arrived together in one transaction (group commit), each request
//!   answered after the commit that holds it: the obvious best version
//!   when many requests arrive at once.
//!
//! The database: WAL, `synchronous=NORMAL`, as campaign's.
//!
//! Prints its port on stdout; exits when stdin reaches end of file.
//!
//! Usage: sink MODE DB SECRET(whsec_...)

use std::io::{Read, Write};
use std::sync::{mpsc, Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rusqlite::{params, Connection};
use sha2::Sha256;
use tokio::sync::oneshot;

const TOLERANCE_S: i64 = 300;

struct Event {
    id: String,
    timestamp: String,
    signature: String,
    body: Bytes,
}

enum Writer {
    Null,
    Single(Arc<Mutex<Connection>>),
    Batch(mpsc::Sender<(Event, oneshot::Sender<rusqlite::Result<bool>>)>),
}

struct App {
    key: Vec<u8>,
    writer: Writer,
}

fn open(path: &str) -> Connection {
    let conn = Connection::open(path).expect("open the database");
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, dedupe TEXT UNIQUE,
         timestamp TEXT NOT NULL, signature TEXT NOT NULL, body BLOB NOT NULL,
         received_ms BIGINT NOT NULL)",
    )
    .unwrap();
    conn
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn insert(conn: &Connection, e: &Event, now: i64) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO events (dedupe, timestamp, signature, body, received_ms)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (dedupe) DO NOTHING",
        )?
        .execute(params![e.id, e.timestamp, e.signature, &e.body[..], now])?;
    Ok(n == 1)
}

fn verify(key: &[u8], headers: &HeaderMap, body: &[u8]) -> Option<Event> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let (id, timestamp, signatures) = (
        text("webhook-id"),
        text("webhook-timestamp"),
        text("webhook-signature"),
    );
    if id.is_empty() || timestamp.is_empty() || signatures.trim().is_empty() {
        return None;
    }
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sent: i64 = timestamp.parse().ok()?;
    if (now_ms() / 1000 - sent).abs() > TOLERANCE_S {
        return None;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let good = signatures.split_ascii_whitespace().any(|entry| {
        let Some(("v1", encoded)) = entry.split_once(',') else {
            return false;
        };
        match STANDARD.decode(encoded) {
            Ok(tag) if !tag.is_empty() => mac.clone().verify_slice(&tag).is_ok(),
            _ => false,
        }
    });
    good.then(|| Event {
        id: id.to_string(),
        timestamp: timestamp.to_string(),
        signature: signatures.to_string(),
        body: Bytes::copy_from_slice(body),
    })
}

async fn handle(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let conn = match &app.writer {
        Writer::Null => return StatusCode::ACCEPTED,
        Writer::Single(conn) => Some(conn.clone()),
        Writer::Batch(_) => None,
    };
    let Some(event) = verify(&app.key, &headers, &body) else {
        return StatusCode::UNAUTHORIZED;
    };
    let inserted = match (&app.writer, conn) {
        (_, Some(conn)) => tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let inserted = insert(&tx, &event, now_ms())?;
            tx.commit()?;
            Ok::<_, rusqlite::Error>(inserted)
        })
        .await
        .unwrap(),
        (Writer::Batch(queue), None) => {
            let (tx, rx) = oneshot::channel();
            queue.send((event, tx)).unwrap();
            rx.await.unwrap()
        }
        _ => unreachable!(),
    };
    match inserted {
        Ok(true) => StatusCode::ACCEPTED,
        Ok(false) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Commits everything queued at the moment it starts in one transaction,
/// then answers each request.
fn batch_writer(
    mut conn: Connection,
    queue: mpsc::Receiver<(Event, oneshot::Sender<rusqlite::Result<bool>>)>,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while let Ok(more) = queue.try_recv() {
            batch.push(more);
        }
        let now = now_ms();
        let result = (|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut each = Vec::with_capacity(batch.len());
            for (e, _) in &batch {
                each.push(insert(&tx, e, now)?);
            }
            tx.commit()?;
            Ok::<_, rusqlite::Error>(each)
        })();
        match result {
            Ok(each) => {
                for ((_, reply), inserted) in batch.into_iter().zip(each) {
                    let _ = reply.send(Ok(inserted));
                }
            }
            Err(e) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(rusqlite::Error::InvalidParameterName(e.to_string())));
                }
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 3 {
        eprintln!("usage: sink null|single|batch DB SECRET");
        std::process::exit(2);
    }
    let key = STANDARD
        .decode(args[2].trim_start_matches("whsec_"))
        .expect("SECRET is whsec_ and base64");
    let writer = match args[0].as_str() {
        "null" => Writer::Null,
        "single" => Writer::Single(Arc::new(Mutex::new(open(&args[1])))),
        "batch" => {
            let conn = open(&args[1]);
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || batch_writer(conn, rx));
            Writer::Batch(tx)
        }
        other => panic!("unknown mode {other}"),
    };
    std::thread::spawn(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut sink) {
                Ok(0) | Err(_) => std::process::exit(0),
                Ok(_) => {}
            }
        }
    });
    let app = Arc::new(App { key, writer });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{port}");
            let _ = out.flush();
        }
        let router = Router::new().fallback(handle).with_state(app);
        axum::serve(listener, router).await.unwrap();
    });
}
