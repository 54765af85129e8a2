//! A real HTTP server on 127.0.0.1 for delivery tests. It records every
//! request and misbehaves on demand, chosen by path:
//!
//! - `/ok`: 200
//! - `/status/{code}`: that status (e.g. 400, 302, 410)
//! - `/fail/{n}`: 500 for the first `n` requests of each idempotency key, then 200
//! - `/throttle`: 429 with `Retry-After: 1` the first time per key, then 200
//! - `/slow/{ms}`: waits, then 200
//! - `/capture`: 201 with `{"id": 42, "data": {"name": "Ada"}}` and `Location: /things/42`
//! - `/echo`: 400 whose body echoes every request header and the body (a leaky server)
//! - `/flaky/{percent}`: 500 for that share of requests (seeded by key and attempt), else 200
//! - `/big`: 200 with a 1 MiB body, sent slowly in chunks
//! - `/things/{id}`: 200
//!
//! Connection resets need a raw socket; tests/delivery.rs starts one itself.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
    pub status: u16,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn key(&self) -> String {
        self.header("idempotency-key").unwrap_or("").to_string()
    }
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    per_key: Mutex<HashMap<String, u32>>,
}

/// Serves `app` on a free port of 127.0.0.1 from a runtime of its own; the
/// server stops when the runtime is dropped.
pub fn serve(app: axum::Router) -> (SocketAddr, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, runtime)
}

/// A running server; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    pub fn start() -> Server {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let (addr, runtime) = serve(app);
        Server {
            addr,
            shared,
            _runtime: runtime,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// How many requests came for `uri` (path and query).
    pub fn count(&self, uri: &str) -> usize {
        self.shared
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.uri == uri)
            .count()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let at = Instant::now();
    let body = axum::body::to_bytes(req.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let count = {
        let mut per_key = shared.per_key.lock().unwrap();
        let c = per_key.entry(key.clone()).or_insert(0);
        *c += 1;
        *c
    };
    // Recorded on arrival: a client that times out cancels the handler.
    let index = {
        let mut seen = shared.seen.lock().unwrap();
        seen.push(Seen {
            method: method.to_string(),
            uri: uri.to_string(),
            headers: header_list.clone(),
            body: body.to_vec(),
            at,
            status: 0,
        });
        seen.len() - 1
    };
    let path = uri.path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let response: Response = match parts.as_slice() {
        ["ok"] | ["things", _] => (StatusCode::OK, "ok").into_response(),
        ["status", code] => {
            let code = StatusCode::from_u16(code.parse().unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = (code, format!("status {code}")).into_response();
            if code.is_redirection() {
                r.headers_mut().insert(
                    "location",
                    format!(
                        "http://{}/ok",
                        headers
                            .get("host")
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or("")
                    )
                    .parse()
                    .unwrap(),
                );
            }
            r
        }
        ["fail", n] if count <= n.parse().unwrap_or(0) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response()
        }
        ["fail", _] => (StatusCode::OK, "ok").into_response(),
        ["throttle"] if count == 1 => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
            r.headers_mut().insert("retry-after", "1".parse().unwrap());
            r
        }
        ["throttle"] => (StatusCode::OK, "ok").into_response(),
        ["slow", ms] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(1000))).await;
            (StatusCode::OK, "ok").into_response()
        }
        ["capture"] => {
            let mut r = (
                StatusCode::CREATED,
                r#"{"id": 42, "data": {"name": "Ada"}}"#,
            )
                .into_response();
            r.headers_mut()
                .insert("location", "/things/42".parse().unwrap());
            r
        }
        ["echo"] => {
            let mut text = String::new();
            for (n, v) in &header_list {
                text.push_str(&format!("{n}: {v}\n"));
            }
            text.push_str(&String::from_utf8_lossy(&body));
            (StatusCode::BAD_REQUEST, text).into_response()
        }
        ["flaky", percent] => {
            let seed = key.bytes().fold(count as u64 * 0x9e37_79b9, |h, b| {
                h.wrapping_mul(31).wrapping_add(b as u64)
            });
            let roll = (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % 100;
            if roll < percent.parse::<u64>().unwrap_or(30) {
                (StatusCode::INTERNAL_SERVER_ERROR, "flaky").into_response()
            } else {
                (StatusCode::OK, "ok").into_response()
            }
        }
        ["big"] => {
            let chunks = futures_util::stream::iter(
                (0..64).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 16 * 1024]))),
            );
            Response::new(Body::from_stream(chunks))
        }
        _ => (StatusCode::NOT_FOUND, "no such path").into_response(),
    };
    shared.seen.lock().unwrap()[index].status = response.status().as_u16();
    response
}
