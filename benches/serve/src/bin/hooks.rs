//! Load generator for benches/serve.sh: N signed Standard Webhooks POSTed
//! over C keep-alive HTTP/1.1 connections (hyper 1 client, one connection
//! per task, one request in flight per connection), counting 2xx answers.
//!
//! Every request has its own `webhook-id` (`PREFIX-i`), the timestamp of
//! the moment the requests were prepared (the run must end within the
//! 300 s tolerance), a `v1,` HMAC-SHA256 signature over `id.timestamp.body`
//! and the JSON body `{"Contact ID": "PREFIXi", "Email": "personi@example.com"}`.
//! All N requests are signed before the clock starts, so signing is not
//! part of what is measured.
//!
//! Runs on tokio's current-thread runtime: the generator uses at most one
//! core, whatever the server does with the other.
//!
//! Prints one line: `sent N ok K wall_s W req_per_s R`; exits 1 unless
//! every request got a 2xx.
//!
//! Usage: hooks URL N CONNECTIONS SECRET(whsec_...) PREFIX

use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::net::TcpStream;

struct Prepared {
    id: String,
    signature: String,
    body: Bytes,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        eprintln!("usage: hooks URL N CONNECTIONS SECRET PREFIX");
        std::process::exit(2);
    }
    let url: hyper::Uri = args[0].parse().expect("URL");
    let n: usize = args[1].parse().expect("N");
    let conns: usize = args[2].parse::<usize>().expect("CONNECTIONS").max(1);
    let key = STANDARD
        .decode(args[3].trim_start_matches("whsec_"))
        .expect("SECRET is whsec_ and base64");
    let prefix = &args[4];

    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let prepared: Vec<Prepared> = (0..n)
        .map(|i| {
            let id = format!("{prefix}-{i}");
            let body = format!(
                "{{\"Contact ID\": \"{prefix}{i}\", \"Email\": \"person{i}@example.com\"}}"
            );
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            mac.update(format!("{id}.{ts}.{body}").as_bytes());
            let signature = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
            Prepared {
                id,
                signature,
                body: Bytes::from(body),
            }
        })
        .collect();
    // Connection k sends requests k, k + C, k + 2C, ...
    let mut shares: Vec<Vec<Prepared>> = (0..conns).map(|_| Vec::new()).collect();
    for (i, p) in prepared.into_iter().enumerate() {
        shares[i % conns].push(p);
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let authority = url.authority().expect("URL has host:port").to_string();
    let path = url.path().to_string();
    let started = Instant::now();
    let ok: usize = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for share in shares {
            let (authority, path, ts) = (authority.clone(), path.clone(), ts.clone());
            tasks.spawn(async move {
                let stream = TcpStream::connect(&authority).await.expect("connect");
                stream.set_nodelay(true).unwrap();
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(conn);
                let mut ok = 0;
                for p in share {
                    let req = Request::post(&path)
                        .header("host", &authority)
                        .header("content-type", "application/json")
                        .header("webhook-id", &p.id)
                        .header("webhook-timestamp", &ts)
                        .header("webhook-signature", &p.signature)
                        .body(Full::new(p.body))
                        .unwrap();
                    sender.ready().await.expect("connection ready");
                    let res = sender.send_request(req).await.expect("response");
                    let status = res.status();
                    let _ = res.into_body().collect().await;
                    if status.is_success() {
                        ok += 1;
                    } else if ok == 0 {
                        eprintln!("hooks: {} answered {status}", p.id);
                    }
                }
                ok
            });
        }
        let mut ok = 0;
        while let Some(r) = tasks.join_next().await {
            ok += r.expect("task");
        }
        ok
    });
    let wall = started.elapsed().as_secs_f64();
    println!(
        "sent {n} ok {ok} wall_s {wall:.3} req_per_s {:.0}",
        n as f64 / wall
    );
    if ok != n {
        std::process::exit(1);
    }
}
