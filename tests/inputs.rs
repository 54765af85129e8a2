//! Bounded memory on every input, through the real binary: files read whole
//! (the campaign, `--schema`, `--env-file`) stop at their limit whatever they
//! are (a huge sparse file, `/dev/zero`, a pipe), and contacts files are
//! streamed with a cap per record and per field, however hostile.
//!
//! Each run's peak RSS is read from the kernel (`wait4`'s `ru_maxrss` for
//! that very child), so a cap that regresses fails here, not in production.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{command as campaign, ndjson, write, Case};

/// One finished run of the binary.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Peak resident set size of the child, in KiB.
    peak_kib: u64,
    took: Duration,
}

impl Run {
    /// Fails unless the run's peak RSS stayed under `limit_kib` more than an
    /// ordinary small run takes ([`BASE_KIB`]).
    fn assert_peak_within(&self, limit_kib: u64, what: &str) {
        assert!(
            self.peak_kib < limit_kib + BASE_KIB,
            "{what}: peak RSS {} KiB",
            self.peak_kib
        );
    }
}

/// Runs `command`, feeding it `stdin` (streamed from a thread, so the input
/// may be far larger than the pipe), and measures its peak RSS.
// The child is reaped by `wait4`, which std's `Child` cannot see.
#[allow(clippy::zombie_processes)]
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

/// `campaign run n.campaign --contacts CONTACTS --dry-run` and `extra`, in
/// `dir`, fed `stdin`.
fn dry_run(dir: &Path, contacts: &str, extra: &[&str], stdin: Option<Box<dyn Read + Send>>) -> Run {
    let args = [
        &["run", "n.campaign", "--contacts", contacts, "--dry-run"],
        extra,
    ]
    .concat();
    measure(campaign(dir, &args), stdin)
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
        r.assert_peak_within(256 * MIB, &format!("{args:?}"));
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
    r.assert_peak_within(0, "");

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
    r.assert_peak_within(0, "");
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
    write(
        dir.path(),
        "s.campaign",
        "campaign \"S\" {\n    webhook \"W\" {\n        url \"https://example.com/\"\n        header \"Api-Key\" = secret(\"K\")\n    }\n}\n",
    );
    write(dir.path(), "c.csv", "Contact ID\n1\n");
    let refused = |env_file: &str, says: &str| {
        let args = [
            "run",
            "s.campaign",
            "--contacts",
            "c.csv",
            "--env-file",
            env_file,
        ];
        let mut cmd = campaign(dir.path(), &args);
        cmd.env("K", "set");
        let r = measure(cmd, None);
        assert_eq!(r.code, Some(1), "{}", clip(&r.stderr));
        assert!(r.stderr.contains(says), "{}", clip(&r.stderr));
        r
    };
    let r = refused(
        "/dev/zero",
        "env file /dev/zero is larger than the limit of 1 MiB; nothing was sent",
    );
    r.assert_peak_within(0, "");

    // A sparse regular file over the limit is refused from its size.
    let env = dir.path().join("big.env");
    std::fs::File::create(&env)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    refused(
        "big.env",
        "env file big.env is larger than the limit of 1 MiB",
    );
}

#[test]
fn dev_zero_as_a_schema_stops_at_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "n.campaign", NOTE);
    let r = measure(
        campaign(
            dir.path(),
            &["check", "n.campaign", "--schema", "/dev/zero"],
        ),
        None,
    );
    assert_eq!(r.code, Some(1), "{}", clip(&r.stderr));
    assert!(
        r.stderr
            .contains("error: /dev/zero is larger than the limit of 16 MiB"),
        "{}",
        clip(&r.stderr)
    );
    r.assert_peak_within(16 * MIB, "");

    // A schema from a pipe is a file too, not a list of one odd name.
    let piped = |fields: &'static [u8]| {
        let args = ["check", "n.campaign", "--schema", "/dev/stdin"];
        measure(campaign(dir.path(), &args), Some(Box::new(fields)))
    };
    let r = piped(b"First Name\n");
    assert_eq!(r.code, Some(0), "{}", clip(&r.stderr));
    let r = piped(b"Email\n");
    assert_eq!(r.code, Some(1), "{}", clip(&r.stderr));
    assert!(
        r.stderr.contains("campaign::merge::unknown_field"),
        "{}",
        clip(&r.stderr)
    );
}

// ---------------------------------------------------------------------------
// Contacts: streamed, with a cap per record and per field
// ---------------------------------------------------------------------------

/// Far past every contacts limit: without them a run would hold this much.
const HUGE: u64 = 100 << 20;

/// `head`, then `HUGE` copies of `fill`, then `tail`, made on the fly.
fn stream(head: &str, fill: u8, tail: &str) -> Box<dyn Read + Send> {
    Box::new(
        std::io::Cursor::new(head.as_bytes().to_vec())
            .chain(std::io::repeat(fill).take(HUGE))
            .chain(std::io::Cursor::new(tail.as_bytes().to_vec())),
    )
}

/// A dry run over contacts read from stdin, as NDJSON effects.
fn dry_run_stdin(
    dir: &Path,
    format: &str,
    input: Box<dyn Read + Send>,
) -> (Run, Vec<serde_json::Value>) {
    write(dir, "n.campaign", NOTE);
    let r = dry_run(
        dir,
        "/dev/stdin",
        &[
            "--contacts-format",
            format,
            "--format",
            "ndjson",
            "--now",
            "2026-11-27T09:00:00Z",
        ],
        Some(input),
    );
    let lines = ndjson(&r.stdout);
    (r, lines)
}

/// Records 1 and 3 ran; record 2, the huge one, is one invalid record.
fn assert_only_the_huge_record_failed(
    what: &str,
    r: &Run,
    lines: &[serde_json::Value],
    says: &str,
) {
    assert_eq!(r.code, Some(1), "{what}: {}", clip(&r.stderr));
    assert_eq!(lines.len(), 3, "{what}: {lines:?}");
    assert_eq!(lines[0]["text"], "hi Ann 1", "{what}");
    assert_eq!(
        lines[1]["code"], "campaign::contacts::invalid_record",
        "{what}"
    );
    let message = lines[1]["message"].as_str().unwrap();
    assert!(message.starts_with("record 2: "), "{what}: {message}");
    assert!(message.contains(says), "{what}: {message}");
    assert_eq!(lines[2]["text"], "hi Cy 3", "{what}");
    assert!(
        r.stderr.contains("dry run: 3 contacts, 1 failed"),
        "{what}: {}",
        clip(&r.stderr)
    );
    // One record is held at most (16 MiB), never the 100 MiB one.
    r.assert_peak_within(16 * MIB, what);
}

#[test]
fn a_huge_csv_record_is_skipped_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let head = "Contact ID,First Name\n1,Ann\n";
    let cases = [
        (
            "quoted cell",
            format!("{head}2,\""),
            b'x',
            "\"\n3,Cy\n",
            "column 2 (`First Name`) is longer than the limit of 1 MiB",
        ),
        (
            "plain cell",
            format!("{head}2,"),
            b'x',
            "\n3,Cy\n",
            "column 2 (`First Name`) is longer than the limit of 1 MiB",
        ),
        (
            "many cells",
            format!("{head}2,"),
            b',',
            "\n3,Cy\n",
            "the record is longer than the limit of 16 MiB",
        ),
        (
            "line breaks in quotes",
            format!("{head}2,\""),
            b'\n',
            "\"\n3,Cy\n",
            "column 2 (`First Name`) is longer than the limit of 1 MiB",
        ),
    ];
    for (what, head, fill, tail, says) in cases {
        let (r, lines) = dry_run_stdin(dir.path(), "csv", stream(&head, fill, tail));
        assert_only_the_huge_record_failed(what, &r, &lines, says);
    }
}

#[test]
fn a_huge_ndjson_line_is_skipped_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let head = "{\"Contact ID\": 1, \"First Name\": \"Ann\"}\n";
    let tail = "\n{\"Contact ID\": 3, \"First Name\": \"Cy\"}\n";
    let cases = [
        (
            "string",
            format!("{head}{{\"First Name\": \""),
            b'x',
            format!("\"}}{tail}"),
        ),
        (
            "nesting",
            format!("{head}{{\"First Name\": "),
            b'[',
            tail.to_string(),
        ),
        ("no JSON at all", head.to_string(), b'z', tail.to_string()),
    ];
    for (what, head, fill, tail) in cases {
        let (r, lines) = dry_run_stdin(dir.path(), "ndjson", stream(&head, fill, &tail));
        assert_only_the_huge_record_failed(
            what,
            &r,
            &lines,
            "line 2 is longer than the limit of 16 MiB",
        );
    }

    // `check --contacts` reads the same way: the huge line adds no names.
    write(dir.path(), "n.campaign", NOTE);
    let r = measure(
        campaign(
            dir.path(),
            &[
                "check",
                "n.campaign",
                "--contacts",
                "/dev/stdin",
                "--contacts-format",
                "ndjson",
            ],
        ),
        Some(stream(head, b'x', tail)),
    );
    assert_eq!(r.code, Some(0), "{}", clip(&r.stderr));
    r.assert_peak_within(16 * MIB, "");
}

#[test]
fn a_huge_json_array_element_is_skipped_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let head = "[\n{\"Contact ID\": 1, \"First Name\": \"Ann\"},\n";
    let tail = ",\n{\"Contact ID\": 3, \"First Name\": \"Cy\"}\n]\n";
    let cases = [
        (
            "string",
            format!("{head}{{\"First Name\": \""),
            b'x',
            format!("\"}}{tail}"),
        ),
        (
            "brackets in a string",
            format!("{head}{{\"First Name\": \""),
            b']',
            format!("\"}}{tail}"),
        ),
        (
            "nesting",
            format!("{head}{{\"First Name\": [1, "),
            b' ',
            format!("2]}}{tail}"),
        ),
    ];
    for (what, head, fill, tail) in cases {
        let (r, lines) = dry_run_stdin(dir.path(), "json", stream(&head, fill, &tail));
        assert_only_the_huge_record_failed(
            what,
            &r,
            &lines,
            "array element 2 (line 3) is longer than the limit of 16 MiB",
        );
    }
}

#[test]
fn an_unclosed_csv_quote_is_reported_at_its_record() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "n.campaign", NOTE);
    write(
        dir.path(),
        "c.csv",
        "Contact ID,First Name\n1,Ann\n2,\"Bob\n3,Cy\n4,Di\n",
    );
    let r = dry_run(dir.path(), "c.csv", &["--format", "ndjson"], None);
    assert_eq!(r.code, Some(1), "{}", clip(&r.stderr));
    let lines = ndjson(&r.stdout);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["text"], "hi Ann 1");
    assert_eq!(lines[1]["contact"], "2");
    assert_eq!(lines[1]["code"], "campaign::contacts::invalid_record");
    let message = lines[1]["message"].as_str().unwrap();
    assert!(
        message.starts_with("record 2: column 2 (`First Name`) opens a quote that is never closed")
            && message.contains("(up to line 5)")
            && message.ends_with("(record starts at line 3)"),
        "{message}"
    );
}

#[test]
fn json_numbers_keep_their_digits_through_a_run() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "n.campaign",
        "campaign \"N\" {\n    note \"[Contact ID]: [N] [Nested]\"\n}\n",
    );
    let numbers = [
        "12345678901234567890123",
        "-0",
        "1e400",
        "0.1",
        "1.50",
        "2E-7",
    ];
    // Ids are text (`0:`) so records differ; the numbers are values.
    let records: Vec<String> = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!("{{\"Contact ID\": \"{i}:\", \"N\": {n}, \"Nested\": {{\"v\": [{n}]}}}}")
        })
        .collect();
    write(dir.path(), "c.ndjson", records.join("\n"));
    write(dir.path(), "c.json", format!("[{}]", records.join(",\n")));
    for file in ["c.ndjson", "c.json"] {
        let r = dry_run(dir.path(), file, &["--format", "ndjson"], None);
        assert_eq!(r.code, Some(0), "{file}: {}", clip(&r.stderr));
        let notes: Vec<String> = ndjson(&r.stdout)
            .iter()
            .map(|l| l["text"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = numbers
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{i}:: {n} {{\"v\":[{n}]}}"))
            .collect();
        assert_eq!(notes, want, "{file}");
    }
}

// ---------------------------------------------------------------------------
// Duplicate ids
// ---------------------------------------------------------------------------

#[test]
fn a_repeated_contact_id_is_refused_in_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "n.campaign", NOTE);
    write(
        dir.path(),
        "c.csv",
        "Contact ID,First Name\n7,Ann\n8,Bob\n7,Eve\n",
    );
    for format in ["ndjson", "human"] {
        let r = dry_run(dir.path(), "c.csv", &["--format", format], None);
        assert_eq!(r.code, Some(1), "{}", clip(&r.stderr));
        assert!(!r.stdout.contains("Eve"), "{}", r.stdout);
        let said = "record 3: Contact ID `7` is already the id of record 1";
        if format == "ndjson" {
            let last: serde_json::Value =
                serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
            assert_eq!(last["contact"], "7");
            assert_eq!(last["code"], "campaign::contacts::duplicate_id");
            assert_eq!(last["message"], said);
        } else {
            assert!(
                r.stdout.contains(&format!(
                    "contact 7\n  +0s      error: {said} [campaign::contacts::duplicate_id]"
                )),
                "{}",
                r.stdout
            );
        }
        assert!(r.stderr.contains("3 contacts, 1 failed"), "{}", r.stderr);
    }
}

#[test]
fn a_repeated_contact_id_is_never_sent_and_leaves_the_first_alone() {
    let server = support::Server::start();
    let case = Case::new(
        &format!(
            "campaign \"D\" {{\n    webhook \"Sync\" {{\n        url \"{}\"\n        post \"Email=[Email]\"\n    }}\n}}\n",
            server.url("/ok")
        ),
        "Contact ID,Email\n7,ann@x.org\n8,bob@x.org\n7,eve@x.org\n",
    );
    let args = ["--journal", "j.sqlite", "--out", "out.ndjson"];
    for session in 1..=2 {
        let r = measure(case.run_command(&args), None);
        assert_eq!(r.code, Some(1), "session {session}: {}", clip(&r.stderr));
        // Eve's record is never sent, not even under Ann's key.
        let seen = server.seen();
        let bodies: Vec<String> = seen
            .iter()
            .map(|s| String::from_utf8_lossy(&s.body).into_owned())
            .collect();
        assert_eq!(bodies.len(), 2, "session {session}: {bodies:?}");
        assert!(
            bodies.contains(&"Email=ann%40x.org".to_string()),
            "{bodies:?}"
        );
        assert!(
            bodies.contains(&"Email=bob%40x.org".to_string()),
            "{bodies:?}"
        );
        assert_ne!(seen[0].key(), seen[1].key());
        let out = case.read("out.ndjson");
        let refused: Vec<serde_json::Value> = ndjson(&out)
            .into_iter()
            .filter(|v| v["status"] == "failed")
            .collect();
        assert_eq!(refused.len(), 1, "session {session}: {out}");
        assert_eq!(refused[0]["contact"], "7");
        assert_eq!(
            refused[0]["error"],
            "record 3: Contact ID `7` is already the id of record 1"
        );
        // The journal still says Ann's record (id 7) is done: the duplicate
        // did not overwrite it, so a resume skips Ann and re-sends nothing.
        let report = measure(case.command(&["report", "j.sqlite"]), None);
        assert!(
            report.stdout.contains("contacts: 2 done, 0 failed"),
            "session {session}: {}",
            report.stdout
        );
    }
}

// ---------------------------------------------------------------------------
// `check`'s memory per byte of script
// ---------------------------------------------------------------------------

/// The text of construct number `i`.
type Construct = fn(usize) -> String;

/// A campaign of about `bytes` bytes made of `one(i)` for i = 0, 1, ...:
/// the shapes of benches/baseline's `gen construct` (docs/performance.md,
/// "`check`'s memory").
fn repeated(bytes: usize, one: impl Fn(usize) -> String) -> String {
    let mut text = String::from("campaign \"Memory\" {\n");
    let mut i = 0;
    while text.len() < bytes {
        text.push_str(&one(i));
        i += 1;
    }
    text.push_str("}\n");
    text
}

/// What `check` takes for a file, over what it takes for an empty
/// campaign, in bytes per byte of the file, for files made of one small
/// construct each: there the tree is largest against the text, so a node
/// type that grows (a bigger step, a string or list allocated per node)
/// shows here first. The bounds are what the tree measured (see
/// docs/performance.md) with about 15% to spare.
// Measured on 2026-12-02 (debug build, 2 cores): 5.65, 9.00, 7.00, 6.41
// and 9.01 bytes per byte, since a merge without filters is 40 bytes and
// a filter, a block and an `if` are smaller (5.7, 9.2, 7.2, 6.9 and 9.6
// before that; 7.6, 9.1, 8.1, 8.0 and 11.6 before conditions became one
// list of nodes each; the release build before the tree was first made
// smaller took 14.0, 16.0, 12.8, 9.8 and 18.0 on the same shapes).
const TAGS_LIMIT: f64 = 6.6;
const NOTES_LIMIT: f64 = 10.4;
const JSON_LIMIT: f64 = 8.1;
const POST_LIMIT: f64 = 7.4;
const CONDITIONS_LIMIT: f64 = 10.4;

/// One JSON body of millions of small values: without literal JSON
/// (grammar/campaign.pest) each value was a pest pair and a tree node, and
/// `check` took 28 to 62 times such a file (docs/performance.md,
/// "`check`'s memory"). Measured on 2026-12-02 (debug build), bytes per
/// byte: numbers, strings and objects 2.3 to 3.1 (two runs), mixed 4.6 (a
/// line per element: the line index is part of it), members 6.6 and
/// members then a merge 6.6 (the set of keys the duplicate-key check
/// keeps).
const ONE_BODY_LIMIT: f64 = 8.0;

#[test]
fn check_memory_of_one_huge_json_body_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.campaign"), "campaign \"E\" {\n}\n").unwrap();
    let base = measure(campaign(dir.path(), &["check", "empty.campaign"]), None);
    assert_eq!(base.code, Some(0), "{}", clip(&base.stderr));
    let body = |open: &str, one: &dyn Fn(usize) -> String, last: &str| {
        let mut text = format!(
            "campaign \"Body\" {{\n    webhook \"W\" {{\n        url \"https://api.example.com/x\"\n        json {open}"
        );
        let mut i = 0;
        while text.len() < 4_000_000 {
            text.push_str(&one(i));
            i += 1;
        }
        text.push_str(last);
        text.push_str("\n    }\n}\n");
        text
    };
    let cases = [
        ("numbers", body("[", &|i| format!("{},", i % 10), "0]")),
        ("strings", body("[", &|_| "\"a\",".to_string(), "\"b\"]")),
        ("objects", body("[", &|_| "{\"a\":1},".to_string(), "{}]")),
        // A merge at the end: no literal body, a run of literal elements.
        (
            "mixed",
            body("[", &|i| format!("{},\n", i % 10), "[Email]]"),
        ),
        (
            "members",
            body("{", &|i| format!("\"k{i}\": {},", i % 10), "\"z\": 0}"),
        ),
        // A merge at the end: a run of literal members.
        (
            "members then a merge",
            body(
                "{",
                &|i| format!("\"k{i}\": [{}],", i % 10),
                "\"z\": [Email]}",
            ),
        ),
    ];
    for (name, text) in cases {
        let file = format!("{}.campaign", name.replace(' ', "-"));
        std::fs::write(dir.path().join(&file), &text).unwrap();
        let r = measure(campaign(dir.path(), &["check", &file]), None);
        assert_eq!(r.code, Some(0), "{name}: {}", clip(&r.stderr));
        let per_byte = (r.peak_kib.saturating_sub(base.peak_kib) * 1024) as f64 / text.len() as f64;
        assert!(
            per_byte < ONE_BODY_LIMIT,
            "{name}: check took {per_byte:.1} bytes per byte of script (limit {ONE_BODY_LIMIT})"
        );
    }
}

#[test]
fn check_memory_per_byte_of_script_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.campaign"), "campaign \"E\" {\n}\n").unwrap();
    let base = measure(campaign(dir.path(), &["check", "empty.campaign"]), None);
    assert_eq!(base.code, Some(0), "{}", clip(&base.stderr));
    let size = 4_000_000;
    let cases: [(&str, f64, Construct); 5] = [
        ("tags", TAGS_LIMIT, |i| format!("    tag add \"t{i}\"\n")),
        ("notes", NOTES_LIMIT, |i| {
            format!(
                "    note \"Hi [First Name | default: 'you' | upper], [Email | lower] ({i}): \
                 [Company | truncate: 20]\"\n"
            )
        }),
        ("json", JSON_LIMIT, |i| {
            format!(
                "    webhook \"j{i}\" {{\n        url \"https://api.example.com/contacts\"\n        \
                 json {{ \"id\": [Contact ID], \"name\": \"[First Name]\", \"n\": {i}, \
                 \"tags\": [\"a\", \"b\"], \"ok\": true }}\n    }}\n"
            )
        }),
        ("post", POST_LIMIT, |i| {
            format!(
                "    webhook \"p{i}\" {{\n        url \"https://app.example.com/hooks/{i}\"\n        \
                 post \"First_Name=[First Name]&Email=[Email]&n={i}\"\n    }}\n"
            )
        }),
        ("conditions", CONDITIONS_LIMIT, |i| {
            format!(
                "    if [Score | number] > {n} and not has tag \"a{i}\" or [Country] == \"US\" {{\n        \
                 stop\n    }} else if ([City] contains \"x{i}\" or [Plan] is empty) and not [Opt In] {{\n        \
                 stop\n    }}\n",
                n = i % 100
            )
        }),
    ];
    for (name, limit, one) in cases {
        let text = repeated(size, one);
        let file = format!("{name}.campaign");
        std::fs::write(dir.path().join(&file), &text).unwrap();
        let r = measure(campaign(dir.path(), &["check", &file]), None);
        assert_eq!(r.code, Some(0), "{name}: {}", clip(&r.stderr));
        assert!(
            r.stderr.contains("0 warnings"),
            "{name}: {}",
            clip(&r.stderr)
        );
        let per_byte = (r.peak_kib.saturating_sub(base.peak_kib) * 1024) as f64 / text.len() as f64;
        assert!(
            per_byte < limit,
            "{name}: check took {per_byte:.1} bytes per byte of script (limit {limit})"
        );
    }
}
