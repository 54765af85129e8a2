//! A minimal HTTP/1.1 keep-alive server for benches/delivery.sh.
//!
//! Listens on 127.0.0.1 only (port 0 = any free port unless `--port N`),
//! prints the port on stdout as a single line, and answers every request
//! `200 OK` with the body `ok` after reading the whole request body.
//! `GET /stats` answers the number of other requests served so far, so the
//! bench can check that every contact's webhook arrived.
//!
//! It never outlives its caller: it exits when its stdin reaches end of file
//! (the bench keeps a pipe open to it) or after `--seconds S` (default 1800),
//! whichever comes first. Run by hand as `server --seconds 60`, with stdin
//! left open (a terminal, or `sleep 60 | server`); `server < /dev/null`
//! exits at once.
//!
//! Usage: server [--port N] [--seconds S] [--threads T]

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn arg(args: &[String], name: &str) -> Option<u64> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} wants a number, got {v:?}"))
        })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("usage: server [--port N] [--seconds S] [--threads T]");
        return;
    }
    let port = arg(&args, "--port").unwrap_or(0) as u16;
    let seconds = arg(&args, "--seconds").unwrap_or(1800);
    let threads = arg(&args, "--threads").map(|t| t as usize);

    // Watchdogs: end of stdin, or the time limit.
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
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(seconds));
        eprintln!("server: --seconds {seconds} elapsed, exiting");
        std::process::exit(0);
    });

    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = threads {
        rt.worker_threads(t.max(1));
    }
    let rt = rt.build().expect("tokio runtime");
    rt.block_on(serve(port));
}

async fn serve(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).await.expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("local addr").port();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{port}");
        let _ = out.flush();
    }
    let served = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("server: accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let served = served.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let served = served.clone();
                async move { Ok::<_, Infallible>(handle(req, &served).await) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(req: Request<Incoming>, served: &AtomicU64) -> Response<Full<Bytes>> {
    if req.method() == Method::GET && req.uri().path() == "/stats" {
        let n = served.load(Ordering::Relaxed);
        return Response::new(Full::new(Bytes::from(format!("{n}\n"))));
    }
    // Read (and drop) the whole request body before answering.
    let _ = req.into_body().collect().await;
    served.fetch_add(1, Ordering::Relaxed);
    Response::new(Full::new(Bytes::from_static(b"ok")))
}
