//! The one list of codes (`campaign::diagnostics::codes`), the docs and the
//! sources agree: docs/language.md's code tables list exactly the codes
//! `check` reports, with their severity, and its runtime table exactly the
//! runtime codes; every code the docs mention or the sources write exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use campaign::diagnostics::codes::{self, Kind};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `campaign::family::name` in `text`.
fn mentioned(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("campaign::") {
        let code: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == ':')
            .collect();
        let code = code.trim_end_matches(':');
        if code.split("::").count() == 3 {
            found.insert(code.to_string());
        }
    }
    found
}

/// The first-column codes of the table rows between `from` and the next
/// `## ` heading of a doc, with their second column.
fn table(language: &str, from: &str) -> BTreeMap<String, String> {
    let start = language.find(from).unwrap_or_else(|| panic!("no {from:?}"));
    let section = &language[start + from.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut rows = BTreeMap::new();
    for line in section.lines() {
        let Some(rest) = line.strip_prefix("| `campaign::") else {
            continue;
        };
        let (code, rest) = rest.split_once('`').unwrap();
        let second = rest.split('|').nth(1).unwrap_or("").trim().to_string();
        let previous = rows.insert(format!("campaign::{code}"), second);
        assert!(previous.is_none(), "campaign::{code} is listed twice");
    }
    rows
}

#[test]
fn the_list_is_well_formed() {
    let mut seen = BTreeSet::new();
    for c in codes::ALL {
        assert_eq!(mentioned(c.code).into_iter().collect::<Vec<_>>(), [c.code]);
        assert!(seen.insert(c.code), "{} twice", c.code);
        assert!(
            !c.summary.is_empty() && !c.summary.ends_with('.'),
            "{}",
            c.code
        );
        assert_eq!(codes::lookup(c.code), Some(c));
    }
}

#[test]
fn the_docs_tables_and_the_list_agree_both_ways() {
    let language = std::fs::read_to_string(root().join("docs/language.md")).unwrap();
    let runtime = table(&language, "\n## Runtime errors\n");
    let check = table(&language, "\n## Diagnostic codes\n");
    let delivery = std::fs::read_to_string(root().join("docs/delivery.md")).unwrap();
    let delivery = table(&delivery, "\n### Failure codes\n");
    let listed = |kinds: &[Kind]| -> BTreeSet<String> {
        codes::ALL
            .iter()
            .filter(|c| kinds.contains(&c.kind))
            .map(|c| c.code.to_string())
            .collect()
    };
    assert_eq!(
        runtime.keys().cloned().collect::<BTreeSet<_>>(),
        listed(&[Kind::Runtime]),
        "docs/language.md's runtime table (left) and the list (right)"
    );
    assert_eq!(
        delivery.keys().cloned().collect::<BTreeSet<_>>(),
        listed(&[Kind::Delivery]),
        "docs/delivery.md's failure table (left) and the list (right)"
    );
    assert_eq!(
        check.keys().cloned().collect::<BTreeSet<_>>(),
        listed(&[Kind::Error, Kind::Warning]),
        "docs/language.md's code tables (left) and the list (right)"
    );
    for (code, severity) in &check {
        let expected = match codes::lookup(code).map(|c| c.kind) {
            Some(Kind::Warning) => "warning",
            _ => "error",
        };
        assert_eq!(severity, expected, "{code}'s severity in docs/language.md");
    }
}

#[test]
fn every_code_the_docs_mention_exists() {
    let mut files = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        // docs/ also holds pictures (docs/editors.md's screenshot).
        if path.extension().is_none_or(|e| e != "png") {
            files.push(path);
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for code in mentioned(&text) {
            assert!(
                codes::lookup(&code).is_some(),
                "{} mentions {code}, which is not in the list",
                file.display()
            );
        }
    }
}

/// The sources' code literals outside test modules, by file.
fn written(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            written(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("\n#[cfg(test)]\nmod tests").next().unwrap_or("");
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for piece in line.split('"').skip(1).step_by(2) {
                    if piece.starts_with("campaign::") && mentioned(piece).contains(piece) {
                        out.push((path.clone(), piece.to_string()));
                    }
                }
            }
        }
    }
}

#[test]
fn every_code_the_sources_write_is_in_the_list() {
    let mut found = Vec::new();
    written(&root().join("src"), &mut found);
    assert!(
        found.iter().any(|(path, _)| path.ends_with("codes.rs")),
        "the scan found nothing"
    );
    let unknown: Vec<_> = found
        .iter()
        .filter(|(_, code)| codes::lookup(code).is_none())
        .collect();
    assert!(unknown.is_empty(), "codes not in the list: {unknown:?}");
}
