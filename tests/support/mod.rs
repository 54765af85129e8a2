//! What the integration tests share: the real binary and its output, files
//! in a temporary directory, campaign text, and (in [`server`]) a real HTTP
//! server on 127.0.0.1.
#![allow(dead_code)]

pub mod browser;
pub mod lsp;
pub mod postgres;
pub mod served;
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(unused_imports)]
pub use server::{serve, Seen, Server};

/// The `campaign` binary with `args`, run in `dir`, without colours and
/// without the example campaign's secrets, should the environment have
/// them.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_campaign"));
    c.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("ONTRAPORT_APP_ID")
        .env_remove("ONTRAPORT_API_KEY");
    c
}

/// Runs [`command`] to its end.
pub fn campaign(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("the binary runs")
}

/// Runs [`command`] in the package's directory (where `examples/` is).
pub fn campaign_here(args: &[&str]) -> Output {
    campaign(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Writes `contents` to `dir/name` and returns its path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// Every line of NDJSON text, parsed.
pub fn ndjson(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A campaign named `Test` with `body` as its steps.
pub fn script(body: &str) -> String {
    format!("campaign \"Test\" {{\n{body}}}\n")
}

/// A webhook step: its name, its URL, and `extra` lines of settings.
pub fn hook(name: &str, url: &str, extra: &str) -> String {
    format!("    webhook \"{name}\" {{\n        url \"{url}\"\n{extra}    }}\n")
}

/// A campaign (`c.campaign`) and its contacts in a fresh directory, and
/// environment variables for every run of the binary there.
pub struct Case {
    pub dir: tempfile::TempDir,
    contacts: String,
    env: Vec<(String, String)>,
}

impl Case {
    /// `campaign` in `c.campaign` and `contacts` in `c.csv`.
    pub fn new(campaign: &str, contacts: &str) -> Case {
        Case::with_contacts(campaign, "c.csv", contacts)
    }

    /// `campaign` in `c.campaign` and `contacts` in the file `name`.
    pub fn with_contacts(campaign: &str, name: &str, contacts: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "c.campaign", campaign);
        write(dir.path(), name, contacts);
        Case {
            dir,
            contacts: name.to_owned(),
            env: Vec::new(),
        }
    }

    /// Sets `name` for every later run.
    pub fn env(mut self, name: &str, value: &str) -> Case {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes another file into the directory.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        write(self.path(), name, contents)
    }

    /// The binary with `args` in the directory, with the case's variables.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = command(self.path(), args);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs the binary with `args` to its end.
    pub fn campaign(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the binary runs")
    }

    /// `run c.campaign --contacts <contacts>` and `extra`, for real unless
    /// `extra` says `--dry-run`, run to its end.
    pub fn run(&self, extra: &[&str]) -> Output {
        self.run_command(extra).output().expect("the binary runs")
    }

    /// The command [`Case::run`] runs, to start it otherwise.
    pub fn run_command(&self, extra: &[&str]) -> Command {
        let mut args = vec!["run", "c.campaign", "--contacts", &self.contacts];
        args.extend_from_slice(extra);
        self.command(&args)
    }

    /// The lines of `out.ndjson` (`--out out.ndjson`), parsed.
    pub fn results(&self) -> Vec<serde_json::Value> {
        ndjson(&self.read("out.ndjson"))
    }

    /// A file of the directory, as text.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap()
    }
}

/// What compiling `source` gives, spans aside: the listing and warnings, or
/// every diagnostic's code and message. Two sources that must mean the same
/// (formatted and not, a JSON body read two ways) compare equal here.
pub fn meaning(source: &str) -> String {
    match campaign::compile(source, None) {
        Ok(c) => {
            let warnings: Vec<_> = c.warnings.iter().map(|d| (d.code, &d.message)).collect();
            format!("{}\n{warnings:?}", c.program.listing())
        }
        Err(diagnostics) => {
            let mut all: Vec<_> = diagnostics.iter().map(|d| (d.code, &d.message)).collect();
            all.sort();
            format!("error: {all:?}")
        }
    }
}
