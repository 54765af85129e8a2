//! A reader that goes away (`| head`), a closed stderr (`2>&1 | head`) and
//! a full one (`2>/dev/full`): the real binary stops writing quietly and
//! keeps the exit status it had; it never panics (exit 101).
//!
//! Class: every write to stdout and stderr, in every command that writes a
//! lot (`check` in both formats, `disasm`, `run --dry-run` in both formats).

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};

use support::{command as campaign, write};

fn files(dir: &Path) {
    // 3,000 errors (and as many reports) and a listing of 60,000 lines.
    let notes = "    note \"[A | uper]\"\n".repeat(3000);
    write(
        dir,
        "errors.campaign",
        format!("campaign \"E\" {{\n{notes}}}\n"),
    );
    let tags = "    tag add \"t\"\n".repeat(20_000);
    write(
        dir,
        "long.campaign",
        format!(
            "campaign \"L\" {{\n    webhook \"W\" {{ url \"http://x.example.com/\" }}\n{tags}}}\n"
        ),
    );
    // A warning, then a few effects for each of 20,000 contacts.
    write(
        dir,
        "run.campaign",
        "campaign \"R\" {\n    webhook \"W\" { url \"http://x.example.com/[Name]\" }\n    note \"[Name]\"\n    tag add \"t\"\n}\n",
    );
    let mut csv = String::from("Contact ID,Name\n");
    for i in 0..20_000 {
        csv.push_str(&format!("{i},Name {i}\n"));
    }
    write(dir, "c.csv", csv);
}

/// (arguments, exit status whatever happens to the output)
fn commands() -> Vec<(Vec<&'static str>, i32)> {
    vec![
        (vec!["check", "errors.campaign"], 1),
        (vec!["check", "errors.campaign", "--format", "json"], 1),
        (vec!["disasm", "long.campaign"], 0),
        (
            vec!["run", "run.campaign", "--contacts", "c.csv", "--dry-run"],
            0,
        ),
        (
            vec![
                "run",
                "run.campaign",
                "--contacts",
                "c.csv",
                "--dry-run",
                "--format",
                "ndjson",
            ],
            0,
        ),
    ]
}

/// Starts the binary with `args` in `dir`, its output where it is told.
fn spawn(dir: &Path, args: &[&str], stdout: impl Into<Stdio>, stderr: impl Into<Stdio>) -> Child {
    campaign(dir, args)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Reads one line, then closes the pipe.
fn read_one_line_and_close(reader: impl Read) {
    let mut line = String::new();
    let _ = BufReader::new(reader).read_line(&mut line);
}

#[test]
fn stdout_closed_after_one_line() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path());
    for (args, status) in commands() {
        // stderr to a file: a pipe nobody reads could fill and block.
        let err_path = dir.path().join("stderr.txt");
        let err_file = std::fs::File::create(&err_path).unwrap();
        let mut child = spawn(dir.path(), &args, Stdio::piped(), err_file);
        read_one_line_and_close(child.stdout.take().unwrap());
        let code = child.wait().unwrap().code();
        let err = std::fs::read_to_string(&err_path).unwrap();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            !err.contains("Broken pipe"),
            "{args:?} should end quietly: {err}"
        );
        assert_eq!(code, Some(status), "{args:?}: {err}");
    }
}

#[test]
fn stdout_and_stderr_one_pipe_closed_after_one_line() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path());
    for (args, status) in commands() {
        // `2>&1 | head -n 1`
        let (reader, writer) = std::io::pipe().unwrap();
        let mut child = spawn(dir.path(), &args, writer.try_clone().unwrap(), writer);
        read_one_line_and_close(reader);
        let code = child.wait().unwrap().code();
        assert_eq!(code, Some(status), "{args:?}");
    }
}

#[test]
fn stderr_closed_or_full() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path());
    for (args, status) in commands() {
        let mut child = spawn(dir.path(), &args, Stdio::null(), Stdio::piped());
        // Commands that write only to stdout say nothing here: EOF.
        read_one_line_and_close(child.stderr.take().unwrap());
        assert_eq!(child.wait().unwrap().code(), Some(status), "{args:?}");

        if Path::new("/dev/full").exists() {
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap();
            let o = campaign(dir.path(), &args)
                .stdout(Stdio::null())
                .stderr(full)
                .status()
                .unwrap();
            assert_eq!(o.code(), Some(status), "{args:?} with a full stderr");
        }
    }
}

/// A full disk under stdout is not a reader that went away: it is an
/// error, said on stderr, and the command fails.
#[test]
fn a_full_stdout_fails_the_command() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    files(dir.path());
    for (args, _) in commands() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = campaign(dir.path(), &args).stdout(full).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if args[0] == "check" && !args.contains(&"json") {
            continue; // Writes only to stderr.
        }
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
