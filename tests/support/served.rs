//! `campaign serve` run by a test: started on a free port of 127.0.0.1
//! with a token and a Standard Webhooks secret, stopped with SIGTERM (or
//! killed when dropped), and the requests a test sends it.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const TOKEN: &str = "test-token-0123456789";
/// `whsec_` + base64 of 24 bytes.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub struct Served {
    pub child: Child,
    pub base: String,
    /// Where its stderr goes (a file: a pipe nobody reads could fill).
    pub log: std::path::PathBuf,
}

impl Served {
    pub fn start(dir: &Path, files: &[&str], extra: &[&str]) -> Served {
        Served::start_on(dir, files, "campaign.db", extra)
    }

    /// [`Served::start_on`] with more environment variables.
    pub fn start_env(dir: &Path, files: &[&str], extra: &[&str], env: &[(&str, &str)]) -> Served {
        Served::launch(dir, files, "campaign.db", extra, env)
    }

    /// [`Served::start`] on the database `db` (a file or a postgres:// URL).
    pub fn start_on(dir: &Path, files: &[&str], db: &str, extra: &[&str]) -> Served {
        Served::launch(dir, files, db, extra, &[])
    }

    fn launch(
        dir: &Path,
        files: &[&str],
        db: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve"];
        args.extend_from_slice(files);
        args.extend_from_slice(&["--db", db, "--listen", &listen]);
        args.extend_from_slice(extra);
        let log = dir.join(format!("serve-{port}.log"));
        let child = super::command(dir, &args)
            .env("CAMPAIGN_API_TOKEN", TOKEN)
            .env("SIGNUP_SECRET", SECRET)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let base = format!("http://{listen}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(&listen).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Served { child, base, log }
    }

    /// SIGTERM; the exit status and everything it logged.
    pub fn stop(mut self) -> (i32, String) {
        self.signal(libc::SIGTERM);
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), self.logged())
    }

    /// kill -9: no chance to clean up.
    pub fn kill9(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    pub fn signal(&self, signal: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// What it has logged so far.
    pub fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its resident memory in bytes, from /proc.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
            * 1024
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn sign(id: &str, ts: i64, body: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// POSTs a Standard-Webhooks-signed body; returns the status.
pub fn post_signed(
    base: &str,
    path: &str,
    id: &str,
    ts: i64,
    body: &str,
    signature: Option<&str>,
) -> u16 {
    let client = reqwest::Client::new();
    let sig = signature.map_or_else(|| sign(id, ts, body), str::to_string);
    runtime().block_on(async {
        client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

pub fn api(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    runtime().block_on(async {
        let mut req = client.request(method.parse().unwrap(), format!("{base}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    })
}

pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn status_json(dir: &Path) -> Vec<serde_json::Value> {
    let out = super::campaign(dir, &["status", "--db", "campaign.db", "--format", "json"]);
    assert!(out.status.success(), "{}", super::stderr(&out));
    serde_json::from_str(&super::stdout(&out)).unwrap()
}

pub fn count(rows: &[serde_json::Value], state: &str) -> u64 {
    rows.iter()
        .filter(|r| r["state"] == state)
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}
