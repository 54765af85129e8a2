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
    ("frames", 0),
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
    // The flow chart: over `run`'s dry run, under `serve`'s live map.
    ("graph", 8),
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

/// The crate's module doc lists the layers lowest first, from "Stages only
/// look down" to the first blank doc line; each module's first mention
/// there, written `` `name` ``.
fn documented_order(lib: &str) -> Vec<(usize, &'static str)> {
    let doc: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| format!("{l}\n"))
        .collect();
    let start = doc
        .find("Stages only look down")
        .expect("lib.rs's doc has no \"Stages only look down\"");
    let section = &doc[start..];
    let section = &section[..section.find("\n\n").unwrap_or(section.len())];
    let mut order: Vec<(usize, &str)> = LAYERS
        .iter()
        .map(|(module, _)| {
            let at = section
                .find(&format!("`{module}`"))
                .unwrap_or_else(|| panic!("lib.rs's list of layers does not name `{module}`"));
            (at, *module)
        })
        .collect();
    order.sort();
    order
}

#[test]
fn the_module_doc_lists_the_layers_as_they_are() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let order = documented_order(&lib);
    let out_of_place: Vec<String> = order
        .windows(2)
        .filter(|w| layer(w[0].1) > layer(w[1].1))
        .map(|w| {
            format!(
                "`{}` (layer {:?}) is listed before `{}` (layer {:?})",
                w[0].1,
                layer(w[0].1).unwrap(),
                w[1].1,
                layer(w[1].1).unwrap()
            )
        })
        .collect();
    assert!(
        out_of_place.is_empty(),
        "src/lib.rs's doc lists the layers out of order:\n{}",
        out_of_place.join("\n")
    );
}
