//! The tree-sitter grammar in `editors/tree-sitter-campaign` (what Helix, Zed
//! and Neovim highlight with) against the real parser: every example, seed
//! and fixture that `campaign::syntax::parse` accepts parses here without an
//! ERROR or MISSING node, the highlight query gives chosen tokens the
//! captures an editor's theme colours, and the committed `src/parser.c` is
//! what the tree-sitter CLI generates from `grammar.js`.

use std::path::{Path, PathBuf};
use std::process::Command;

use tree_sitter::{Node, Parser};
use tree_sitter_highlight::{HighlightConfiguration, HighlightEvent, Highlighter};

/// The CLI release that generated the committed parser; another release
/// writes different (equally valid) C, so only this one is compared.
/// `cargo install tree-sitter-cli --version 0.27.1 --locked` installs it.
const CLI_VERSION: &str = "0.27.1";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn grammar_dir() -> PathBuf {
    root().join("editors/tree-sitter-campaign")
}

fn campaign_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "campaign"))
        .collect();
    files.sort();
    files
}

fn parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_campaign::LANGUAGE.into())
        .expect("the committed parser's ABI is one this tree-sitter reads");
    parser
}

/// The first ERROR or MISSING node under `node`, in document order.
fn first_error(node: Node<'_>) -> Option<Node<'_>> {
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    if !node.has_error() {
        return None;
    }
    let mut cursor = node.walk();
    let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
    children.into_iter().find_map(first_error)
}

#[test]
fn every_file_the_parser_accepts_parses_without_errors() {
    let mut parser = parser();
    let mut checked = Vec::new();
    let mut failures = Vec::new();
    let files = [
        campaign_files("examples"),
        campaign_files("fuzz/seeds"),
        campaign_files("fuzz/fixtures"),
        campaign_files("benches"),
        campaign_files("tests/diagnostics"),
        campaign_files("editors"),
    ]
    .concat();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        // A fixture with a syntax error is for `check`'s messages; the
        // grammar only has to agree with the parser on what parses. Errors
        // inside well-formed syntax (an unknown method or unit, a bad merge
        // or escape) leave a campaign, and those files must parse here.
        if campaign::syntax::parser::parse_partial(&source).0.is_none() {
            continue;
        }
        let tree = parser
            .parse(&source, None)
            .expect("a parse without a timeout");
        if let Some(node) = first_error(tree.root_node()) {
            let at = node.start_position();
            failures.push(format!(
                "{}:{}:{}: {} in {}",
                file.strip_prefix(root()).unwrap().display(),
                at.row + 1,
                at.column + 1,
                if node.is_missing() {
                    format!("MISSING {}", node.kind())
                } else {
                    format!("ERROR at {:?}", &source[node.byte_range()])
                },
                tree.root_node().to_sexp()
            ));
        }
        checked.push(file);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let examples = campaign_files("examples").len();
    assert!(
        checked.len() >= examples + 10,
        "only {} files were checked: {checked:?}",
        checked.len()
    );
}

/// Each byte's innermost highlight capture, from the grammar's own query.
struct Highlighted {
    source: String,
    captures: Vec<Option<&'static str>>,
}

const NAMES: &[&str] = &[
    "comment",
    "constant",
    "constant.builtin",
    "function",
    "function.builtin",
    "keyword",
    "keyword.operator",
    "number",
    "operator",
    "property",
    "punctuation.bracket",
    "punctuation.delimiter",
    "punctuation.special",
    "string",
    "string.escape",
    "string.special",
    "type.builtin",
    "variable",
];

fn highlight(file: &Path) -> Highlighted {
    let source = std::fs::read_to_string(file).unwrap();
    let mut config = HighlightConfiguration::new(
        tree_sitter_campaign::LANGUAGE.into(),
        "campaign",
        tree_sitter_campaign::HIGHLIGHTS_QUERY,
        "",
        "",
    )
    .expect("queries/highlights.scm is a valid query for the grammar");
    config.configure(NAMES);
    // Every capture the query uses is one an editor theme is asked about.
    for name in config.names() {
        assert!(
            NAMES.contains(name),
            "highlights.scm captures @{name}, which is not in NAMES"
        );
    }
    let mut captures = vec![None; source.len()];
    let mut stack = Vec::new();
    let mut highlighter = Highlighter::new();
    for event in highlighter
        .highlight(&config, source.as_bytes(), None, |_| None)
        .unwrap()
    {
        match event.unwrap() {
            HighlightEvent::HighlightStart(h) => stack.push(NAMES[h.0]),
            HighlightEvent::HighlightEnd => {
                stack.pop();
            }
            HighlightEvent::Source { start, end } => {
                for c in &mut captures[start..end] {
                    *c = stack.last().copied();
                }
            }
        }
    }
    Highlighted { source, captures }
}

impl Highlighted {
    /// The capture of the `nth` (from 0) `token` on the first line that
    /// contains `line`; every byte of the token must have it.
    fn capture(&self, line: &str, token: &str, nth: usize) -> Option<&'static str> {
        let line_start = self
            .source
            .match_indices(line)
            .next()
            .map(|(i, _)| self.source[..i].rfind('\n').map_or(0, |n| n + 1))
            .unwrap_or_else(|| panic!("no line contains {line:?}"));
        let line_end = self.source[line_start..]
            .find('\n')
            .map_or(self.source.len(), |n| line_start + n);
        let text = &self.source[line_start..line_end];
        let (offset, _) = text
            .match_indices(token)
            .nth(nth)
            .unwrap_or_else(|| panic!("{text:?} has no {token:?} (#{nth})"));
        let start = line_start + offset;
        let bytes = &self.captures[start..start + token.len()];
        assert!(
            bytes.iter().all(|c| *c == bytes[0]),
            "{token:?} in {text:?} is split between captures {bytes:?}"
        );
        bytes[0]
    }

    fn assert(&self, line: &str, token: &str, expected: &str) {
        self.assert_nth(line, token, 0, expected);
    }

    fn assert_nth(&self, line: &str, token: &str, nth: usize, expected: &str) {
        assert_eq!(
            self.capture(line, token, nth),
            Some(expected),
            "the capture of {token:?} (#{nth}) on the line with {line:?}"
        );
    }
}

#[test]
fn highlight_captures_of_chosen_tokens() {
    let h = highlight(&root().join("editors/highlight.campaign"));
    // The fixture is a campaign the real parser accepts, so the captures
    // checked here are those of valid syntax.
    if let Err(errors) = campaign::syntax::parser::parse(&h.source) {
        panic!("editors/highlight.campaign does not parse: {errors:?}");
    }

    // A merge inside a URL string, with a filter and its argument.
    let url = "url \"https://app.example.com/people/[Contact ID]";
    h.assert(url, "https://app.example.com/people/", "string");
    h.assert(url, "[", "punctuation.special");
    h.assert(url, "Contact ID", "variable");
    h.assert(url, "?ref=", "string");
    h.assert(url, "|", "punctuation.special");
    h.assert(url, "default", "function");
    h.assert(url, "'web'", "string");
    // The comment after it starts at its own `//`, not the URL's.
    h.assert(url, "// the // in the URL is not a comment", "comment");
    h.assert(url, "://", "string");

    // Secrets: the name is a constant, not text.
    let header = "header \"Authorization\" = \"Bearer \" + secret(\"API_TOKEN\")";
    h.assert(header, "secret", "function.builtin");
    h.assert(header, "API_TOKEN", "constant");
    h.assert(header, "Bearer ", "string");
    h.assert(header, "+", "operator");

    // Durations, rates, numbers.
    h.assert("timeout 5s", "timeout", "keyword");
    h.assert("timeout 5s", "5", "number");
    h.assert("timeout 5s", "s", "type.builtin");
    h.assert("wait 2 days", "wait", "keyword");
    h.assert("wait 2 days", "2", "number");
    h.assert("wait 2 days", "days", "type.builtin");
    h.assert("rate 10/s", "10", "number");
    h.assert("rate 10/s", "/", "operator");
    h.assert("retry 3", "3", "number");

    // Filter arguments: text, numbers and their punctuation.
    let note = "note \"Called [Phone | replace: '-', ' ']";
    h.assert(note, "replace", "function");
    h.assert(note, ":", "punctuation.delimiter");
    h.assert(note, "'-'", "string");
    h.assert(note, ",", "punctuation.delimiter");
    h.assert(note, "truncate", "function");
    h.assert(note, "20", "number");
    h.assert(note, "\\[", "string.escape");
    h.assert(note, "not a merge", "string");

    // Keywords, methods, triggers and conditions.
    h.assert("method PUT", "method", "keyword");
    h.assert("method PUT", "PUT", "constant.builtin");
    h.assert(
        "trigger webhook_received",
        "webhook_received",
        "constant.builtin",
    );
    h.assert("trigger webhook_received", "verify", "keyword");
    let cond = "if [Country] == \"US\" and";
    h.assert(cond, "if", "keyword");
    h.assert(cond, "Country", "variable");
    h.assert(cond, "==", "operator");
    h.assert(cond, "and", "keyword.operator");
    h.assert(cond, "50", "number");

    // A JSON body: keys, bare merges, arrays and literals.
    h.assert("\"name\": \"[First Name]", "name", "property");
    h.assert("\"name\": \"[First Name]", "First Name", "variable");
    h.assert("\"email\": [Email]", "Email", "variable");
    h.assert("\"tags\": [\"lead\"", "lead", "string");
    h.assert_nth("\"tags\": [\"lead\"", "[", 0, "punctuation.bracket");
    h.assert("\"vip\": true", "true", "constant.builtin");
    // A body on the line after `json`.
    h.assert("{\"id\": [Contact ID]", "id", "property");
    h.assert("{\"id\": [Contact ID]", "Contact ID", "variable");
    h.assert("{\"id\": [Contact ID]", "{", "punctuation.bracket");
    h.assert("// The highlighting tests'", "// The", "comment");
}

/// Regenerates the parser from `grammar.js` into a temporary folder and
/// compares it with the committed one, where the CLI is installed.
#[test]
fn committed_parser_is_generated_from_grammar_js() {
    let version = match Command::new("tree-sitter").arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => {
            eprintln!(
                "note: the tree-sitter CLI is not installed: skipping the check that src/parser.c \
                 matches grammar.js (`cargo install tree-sitter-cli --version {CLI_VERSION} --locked`)"
            );
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    for file in ["grammar.js", "tree-sitter.json"] {
        std::fs::copy(grammar_dir().join(file), dir.path().join(file)).unwrap();
    }
    // Its built-in JavaScript engine, so that no node is needed.
    let out = Command::new("tree-sitter")
        .args(["generate", "--js-runtime", "native"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tree-sitter generate failed on grammar.js:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let regenerate = format!(
        "run `tree-sitter generate` in editors/tree-sitter-campaign with the tree-sitter CLI \
         {CLI_VERSION} and commit src/"
    );
    // grammar.json is grammar.js normalised, the same from any release.
    let same = |file: &str| {
        std::fs::read(dir.path().join("src").join(file)).unwrap()
            == std::fs::read(grammar_dir().join("src").join(file)).unwrap()
    };
    assert!(
        same("grammar.json"),
        "src/grammar.json is not grammar.js's: {regenerate}"
    );
    if !version.ends_with(CLI_VERSION) {
        eprintln!(
            "note: {version} is not the CLI {CLI_VERSION} that generated src/parser.c: compared \
             src/grammar.json only"
        );
        return;
    }
    for file in ["parser.c", "node-types.json", "tree_sitter/parser.h"] {
        assert!(
            same(file),
            "src/{file} is not what grammar.js generates: {regenerate}"
        );
    }
}
