//! The docs' output examples are the binary's output. Every ```console
//! block of README.md and docs/*.md holds commands (`$ campaign ...`, a
//! trailing `\` continues a line) each followed by what it prints: stdout,
//! then stderr. This test runs each command in a scratch folder holding a
//! copy of `examples/` and every block whose info string names a file
//! (```campaign file=welcome.campaign), and compares, line by line with
//! trailing spaces ignored. A doc example can then never drift from the
//! binary: change the code and this fails, or run it with
//! `DOCS_UPDATE=1 cargo test --test docs` to rewrite the examples from the
//! binary and review the diff.

mod support;

use std::path::{Path, PathBuf};

use support::command;

/// One ```console command and the output the doc shows for it.
struct Example {
    /// The markdown line of the `$`, for messages.
    line: usize,
    args: Vec<String>,
    /// The lines of the doc's output, as byte range of the file to replace.
    output: std::ops::Range<usize>,
}

/// One markdown file's fixtures and examples.
struct Doc {
    path: PathBuf,
    text: String,
    files: Vec<(String, String)>,
    examples: Vec<Example>,
}

fn docs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
}

/// Splits a command line as a POSIX shell would for plain words, single
/// and double quotes; anything a shell would interpret (pipes, redirects,
/// variables) is refused, since the test does not run a shell.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '|' | '>' | '<' | '$' | '`' | ';' | '&' => {
                return Err(format!(
                    "`{c}` needs a shell; console examples run `campaign` only"
                ))
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

fn parse(path: &Path) -> Doc {
    let text = std::fs::read_to_string(path).unwrap();
    let mut files = Vec::new();
    let mut examples = Vec::new();
    // Byte offset of each line start.
    let mut lines = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        lines.push((at, line));
        at += line.len();
    }
    let mut i = 0;
    while i < lines.len() {
        let (_, line) = lines[i];
        let Some(info) = line.trim_end().strip_prefix("```") else {
            i += 1;
            continue;
        };
        if info.is_empty() {
            // A plain block: skip to its end.
            i += 1;
            while i < lines.len() && !lines[i].1.starts_with("```") {
                i += 1;
            }
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].1.starts_with("```") {
            end += 1;
        }
        if let Some(name) = info
            .split_whitespace()
            .find_map(|w| w.strip_prefix("file="))
        {
            let body: String = lines[start..end].iter().map(|(_, l)| *l).collect();
            files.push((name.to_string(), body));
        } else if info == "console" {
            let mut j = start;
            while j < end {
                let (_, line) = lines[j];
                let Some(mut command) = line.trim_end().strip_prefix("$ ").map(String::from) else {
                    panic!(
                        "{}:{}: a console block starts each command with `$ `",
                        path.display(),
                        j + 1
                    );
                };
                let first = j;
                while command.ends_with('\\') {
                    command.pop();
                    j += 1;
                    command.push_str(lines[j].1.trim_end());
                }
                j += 1;
                let out_start = j;
                while j < end && !lines[j].1.starts_with("$ ") {
                    j += 1;
                }
                let args = words(&command)
                    .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), first + 1));
                assert_eq!(
                    args.first().map(String::as_str),
                    Some("campaign"),
                    "{}:{}: console examples run `campaign`",
                    path.display(),
                    first + 1
                );
                let byte = |k: usize| lines.get(k).map_or(text.len(), |(at, _)| *at);
                examples.push(Example {
                    line: first + 1,
                    args: args[1..].to_vec(),
                    output: byte(out_start)..byte(j),
                });
            }
        }
        i = end + 1;
    }
    Doc {
        path: path.to_path_buf(),
        text,
        files,
        examples,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn normalise(text: &str) -> String {
    let mut out: String = text
        .lines()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n");
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

#[test]
fn every_console_example_is_what_the_binary_prints() {
    let update = std::env::var_os("DOCS_UPDATE").is_some();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    let mut count = 0;
    for path in docs() {
        let doc = parse(&path);
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&root.join("examples"), &dir.path().join("examples"));
        for (name, body) in &doc.files {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        let mut text = doc.text.clone();
        // Replaced from the end, so earlier ranges stay valid.
        for example in doc.examples.iter().rev() {
            count += 1;
            let args: Vec<&str> = example.args.iter().map(String::as_str).collect();
            let o = command(dir.path(), &args).output().unwrap();
            let actual = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            let shown = &doc.text[example.output.clone()];
            if normalise(shown) != normalise(&actual) {
                if update {
                    let mut fresh = normalise(&actual);
                    fresh.push('\n');
                    text.replace_range(example.output.clone(), &fresh);
                } else {
                    failures.push(format!(
                        "{}:{}: `campaign {}` prints\n{}\n--- but the doc shows\n{}",
                        doc.path.strip_prefix(root).unwrap().display(),
                        example.line,
                        example.args.join(" "),
                        normalise(&actual),
                        normalise(shown)
                    ));
                }
            }
        }
        if update && text != doc.text {
            std::fs::write(&doc.path, text).unwrap();
        }
    }
    assert!(count >= 5, "only {count} console examples found");
    assert!(
        failures.is_empty(),
        "{} doc example(s) drifted from the binary (DOCS_UPDATE=1 rewrites them):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_command_splitter_quotes_as_a_shell_does_and_refuses_the_rest() {
    assert_eq!(
        words(r#"campaign check a.campaign --schema "First Name,Email" --x 'a b'"#).unwrap(),
        [
            "campaign",
            "check",
            "a.campaign",
            "--schema",
            "First Name,Email",
            "--x",
            "a b"
        ]
    );
    assert!(words("campaign run x | jq .").is_err());
    assert!(words("campaign run x > out").is_err());
}
