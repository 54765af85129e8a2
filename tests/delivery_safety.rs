//! What a real run must never do, through the real binary against real
//! servers on 127.0.0.1: write over its own inputs.

mod support;

use std::process::Output;

use support::{command, write, Server};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn script(body: &str) -> String {
    format!("campaign \"Safety\" {{\n{body}}}\n")
}

fn hook(name: &str, url: &str, extra: &str) -> String {
    format!("    webhook \"{name}\" {{\n        url \"{url}\"\n{extra}    }}\n")
}

/// `--out` (or `--journal`) naming an input, by any path to it, is refused
/// before anything is written or sent; every input is left as it was.
#[test]
fn outputs_never_overwrite_inputs() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let campaign = script(&hook("W", &server.url("/ok"), ""));
    write(dir.path(), "c.campaign", &campaign);
    write(dir.path(), "c.csv", "Contact ID\n1\n");
    write(dir.path(), "secrets.env", "UNUSED=1\n");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("c.csv", dir.path().join("link.csv")).unwrap();
        std::fs::hard_link(
            dir.path().join("c.campaign"),
            dir.path().join("hard.campaign"),
        )
        .unwrap();
    }
    let base = [
        "run",
        "c.campaign",
        "--contacts",
        "c.csv",
        "--env-file",
        "secrets.env",
    ];
    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--out", "c.csv"], "is the contacts file"),
        (vec!["--out", "sub/../c.csv"], "is the contacts file"),
        (vec!["--out", "c.campaign"], "is the campaign"),
        (vec!["--out", "secrets.env"], "is the env file"),
        (vec!["--journal", "c.csv"], "is the contacts file"),
        (
            vec!["--journal", "j.sqlite", "--out", "j.sqlite"],
            "is --journal",
        ),
        (
            vec!["--journal", "j.sqlite", "--out", "j.sqlite-wal"],
            "is a file of the journal",
        ),
    ];
    #[cfg(unix)]
    {
        cases.push((vec!["--out", "link.csv"], "is the contacts file"));
        cases.push((vec!["--out", "hard.campaign"], "is the campaign"));
    }
    for (extra, says) in cases {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let o = command(dir.path(), &args).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
        assert!(err.contains("nothing was written"), "{extra:?}: {err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("c.campaign")).unwrap(),
            campaign
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("c.csv")).unwrap(),
            "Contact ID\n1\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("secrets.env")).unwrap(),
            "UNUSED=1\n"
        );
        assert!(!dir.path().join("j.sqlite").exists(), "{extra:?}");
    }
    assert!(server.seen().is_empty(), "nothing was sent");
    // A new file is fine.
    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--out", "out.ndjson"])
        .collect();
    let o = command(dir.path(), &args).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
