//! Bounded memory on every input, through the real binary: files read whole
//! (the campaign, `--schema`, `--env-file`) stop at their limit whatever they
//! are (a huge sparse file, `/dev/zero`, a pipe), and contacts files are
//! streamed with a cap per record and per field, however hostile.
//!
//! Each run's peak RSS is read from the kernel (`wait4`'s `ru_maxrss` for
//! that very child), so a cap that regresses fails here, not in production.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One finished run of the binary.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Peak resident set size of the child, in KiB.
    peak_kib: u64,
    took: Duration,
}

/// Runs `command`, feeding it `stdin` (streamed from a thread, so the input
/// may be far larger than the pipe), and measures its peak RSS.
fn measure(mut command: Command, stdin: Option<Box<dyn Read + Send>>) -> Run {
    let start = Instant::now();
    command
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary starts");
    let feeder = stdin.map(|mut input| {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            // The child may stop reading early; a broken pipe is fine.
            let _ = std::io::copy(&mut input, &mut pipe);
        })
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = out.read_to_end(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = err.read_to_end(&mut text);
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and the pid is our own child that
    // nothing else waits for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    if let Some(f) = feeder {
        f.join().unwrap();
    }
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    assert!(
        code.is_some(),
        "killed by signal {}: {}",
        libc::WTERMSIG(status),
        clip(&stderr)
    );
    assert!(!stderr.contains("panicked"), "{}", clip(&stderr));
    Run {
        code,
        stdout,
        stderr,
        peak_kib: usage.ru_maxrss as u64,
        took: start.elapsed(),
    }
}

fn campaign(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_campaign"));
    c.args(args).current_dir(dir);
    c
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Text clipped for assertion messages.
fn clip(text: &str) -> String {
    let mut end = text.len().min(3000);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

const MIB: u64 = 1024;

/// What an ordinary small run takes (the binary, its runtime and buffers);
/// every cap below is a margin over the input's own limit on top of this.
const BASE_KIB: u64 = 40 * MIB;

const NOTE: &str = "campaign \"C\" {\n    note \"hi [First Name] [Contact ID]\"\n}\n";

// ---------------------------------------------------------------------------
// Files read whole
// ---------------------------------------------------------------------------

#[test]
fn dev_zero_as_a_campaign_stops_at_the_source_limit() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["check", "/dev/zero"][..],
        &["disasm", "/dev/zero"],
        &["run", "/dev/zero", "--contacts", "c.csv", "--dry-run"],
    ] {
        let r = measure(campaign(dir.path(), args), None);
        assert_eq!(r.code, Some(1), "{args:?}: {}", clip(&r.stderr));
        assert!(
            r.stderr.contains("campaign::source::too_large")
                && r.stderr.contains("larger than 256 MiB"),
            "{args:?}: {}",
            clip(&r.stderr)
        );
        // The stream is read up to the limit and no further.
        assert!(
            r.peak_kib < 256 * MIB + BASE_KIB,
            "{args:?}: peak RSS {} KiB",
            r.peak_kib
        );
        assert!(r.took < Duration::from_secs(30), "{args:?}: {:?}", r.took);
    }
}

#[test]
fn an_oversized_regular_file_is_refused_by_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.campaign");
    // Sparse: a terabyte on paper, no disk used.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let r = measure(
        campaign(dir.path(), &["check", "--format", "json", "big.campaign"]),
        None,
    );
    assert_eq!(r.code, Some(1), "{}", clip(&r.stderr));
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json[0]["code"], "campaign::source::too_large");
    assert_eq!(json[0]["file"], "big.campaign");
    // Refused from its size: nothing was read.
    assert!(r.peak_kib < BASE_KIB, "peak RSS {} KiB", r.peak_kib);

    // One byte over the limit is over (src/input.rs tests the boundary
    // itself with small limits: a 256 MiB file takes minutes to parse here).
    std::fs::File::create(&big)
        .unwrap()
        .set_len((256 << 20) + 1)
        .unwrap();
    let r = measure(campaign(dir.path(), &["check", "big.campaign"]), None);
    assert!(
        r.stderr.contains("campaign::source::too_large"),
        "{}",
        clip(&r.stderr)
    );
    assert!(r.peak_kib < BASE_KIB, "peak RSS {} KiB", r.peak_kib);
}

#[test]
fn a_campaign_from_a_pipe_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let r = measure(
        campaign(dir.path(), &["check", "/dev/stdin"]),
        Some(Box::new(NOTE.as_bytes())),
    );
    assert_eq!(r.code, Some(0), "{}", clip(&r.stderr));
}

#[test]
fn dev_zero_as_an_env_file_stops_at_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "s.campaign",
        "campaign \"S\" {\n    webhook \"W\" {\n        url \"https://example.com/\"\n        header \"Api-Key\" = secret(\"K\")\n    }\n}\n",
    );
    let contacts = write(dir.path(), "c.csv", "Contact ID\n1\n");
    let mut cmd = campaign(
        dir.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "--contacts",
            contacts.to_str().unwrap(),
            "--env-file",
            "/dev/zero",
        ],
    );
    cmd.env("K", "set");
    let r = measure(cmd, None);
    assert_eq!(r.code, Some(1), "{}", clip(&r.stderr));
    assert!(
        r.stderr
            .contains("env file /dev/zero is larger than the limit of 1 MiB; nothing was sent"),
        "{}",
        clip(&r.stderr)
    );
    assert!(r.peak_kib < BASE_KIB, "peak RSS {} KiB", r.peak_kib);

    // A sparse regular file over the limit is refused from its size.
    let env = dir.path().join("big.env");
    std::fs::File::create(&env)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let mut cmd = campaign(
        dir.path(),
        &["run", "s.campaign", "--contacts", "c.csv", "--env-file", "big.env"],
    );
    cmd.env("K", "set");
    let r = measure(cmd, None);
    assert_eq!(r.code, Some(1), "{}", clip(&r.stderr));
    assert!(
        r.stderr.contains("env file big.env is larger than the limit of 1 MiB"),
        "{}",
        clip(&r.stderr)
    );
}

#[test]
fn dev_zero_as_a_schema_stops_at_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "n.campaign", NOTE);
    let r = measure(
        campaign(dir.path(), &["check", "n.campaign", "--schema", "/dev/zero"]),
        None,
    );
    assert_eq!(r.code, Some(1), "{}", clip(&r.stderr));
    assert!(
        r.stderr
            .contains("error: /dev/zero is larger than the limit of 16 MiB"),
        "{}",
        clip(&r.stderr)
    );
    assert!(r.peak_kib < 16 * MIB + BASE_KIB, "peak RSS {} KiB", r.peak_kib);

    // A schema from a pipe is a file too, not a list of one odd name.
    let r = measure(
        campaign(dir.path(), &["check", "n.campaign", "--schema", "/dev/stdin"]),
        Some(Box::new(&b"First Name\n"[..])),
    );
    assert_eq!(r.code, Some(0), "{}", clip(&r.stderr));
    let r = measure(
        campaign(dir.path(), &["check", "n.campaign", "--schema", "/dev/stdin"]),
        Some(Box::new(&b"Email\n"[..])),
    );
    assert_eq!(r.code, Some(1), "{}", clip(&r.stderr));
    assert!(
        r.stderr.contains("campaign::merge::unknown_field"),
        "{}",
        clip(&r.stderr)
    );
}
