//! Stages only look down: a module of the library may use modules of a
//! lower layer, never one of its own layer or above. The table below is the
//! layout the crate's module doc describes; a new module must be placed in
//! it, and an import that reaches up fails here with the line that does it.

use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and its layer, lowest first.
const LAYERS: &[(&str, u8)] = &[
    // Leaves: no pipeline knowledge.
    ("span", 0),
    ("threads", 0),
    ("terminal", 0),
    ("encode", 0),
    ("input", 0),
    ("diagnostics", 1),
    ("contacts", 1),
    // The pipeline, in order.
    ("syntax", 2),
    ("filters", 3),
    ("url_template", 3),
    // The formatter: the parse's AST and tokens, nothing of the meaning.
    ("fmt", 3),
    ("check", 4),
    ("compile", 4),
    ("vm", 5),
    ("schema", 5),
    ("request", 6),
    ("failure", 6),
    ("effect", 6),
    ("run", 7),
    ("deliver", 7),
    // Inbound webhooks' signatures; uses deliver's `whsec_` key decoding.
    ("verify", 8),
    ("store", 6),
    ("serve", 9),
    ("diff", 8),
    ("expect", 9),
    // `campaign.toml`: the sample contacts' schema for check and the editor.
    ("workspace", 6),
    // The language server: on top of everything it explains.
    ("lsp", 10),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The top-level modules a line of code names as `crate::name`, outside
/// comments (doc links to later stages explain, they do not depend).
fn named_modules(line: &str) -> Vec<&str> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .filter(|(at, _)| !code[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .map(|(at, m)| {
            let rest = &code[at + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn every_module_is_placed_in_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if ["lib", "main", "cli"].contains(&name.as_str()) {
            continue;
        }
        assert!(
            layer(&name).is_some(),
            "src/{name} is not in tests/layering.rs's table: place it in a layer"
        );
    }
}

#[test]
fn no_module_imports_from_its_own_layer_or_above() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut upward = Vec::new();
    for (module, own) in LAYERS {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        rust_files(&src.join(format!("{module}.rs")), &mut files);
        assert!(!files.is_empty(), "no source for {module}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for named in named_modules(line) {
                    if named == *module {
                        continue;
                    }
                    let Some(theirs) = layer(named) else {
                        continue;
                    };
                    if theirs >= *own {
                        upward.push(format!(
                            "{}:{}: {module} (layer {own}) uses {named} (layer {theirs}): {}",
                            file.strip_prefix(&src).unwrap().display(),
                            n + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that reach sideways or up:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_scan_sees_imports_and_skips_comments() {
    assert_eq!(
        named_modules("use crate::vm::{Run, Vm}; // crate::deliver"),
        ["vm"]
    );
    assert_eq!(
        named_modules("    let s = crate::span::Span::new(0, 0);"),
        ["span"]
    );
    assert!(named_modules("//! see [`crate::run`]").is_empty());
    assert!(named_modules("use my_crate::deliver;").is_empty());
}
