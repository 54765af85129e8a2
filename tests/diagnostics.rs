//! Snapshot of every diagnostic for each fixture in tests/diagnostics/.
//! `err_*` fixtures must produce at least one error or warning; `ok_*` none.
//! A first line `// schema: A, B` checks merge fields against those names.

use campaign::check::Schema;
use campaign::diagnostics::{Report, SourceFile};
use miette::{GraphicalReportHandler, GraphicalTheme};

fn render(name: &str, source: &str) -> (String, usize) {
    let schema = source
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("// schema:"))
        .map(|fields| Schema {
            fields: fields.split(',').map(|f| f.trim().to_string()).collect(),
            origin: "the schema".into(),
        });
    let diagnostics = campaign::diagnose(source, schema.as_ref());
    let file = SourceFile::new(name, source);
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for d in &diagnostics {
        let (line, col) = file.line_col(d.span.start);
        out.push_str(&format!(
            "{:?} {} at {}:{} bytes {}..{}\n",
            d.severity, d.code, line, col, d.span.start, d.span.end
        ));
        handler
            .render_report(&mut out, &Report::new(d.clone(), &file))
            .expect("rendering to a String cannot fail");
        out.push('\n');
    }
    (out, diagnostics.len())
}

#[test]
fn diagnostics() {
    insta::glob!("diagnostics/*.campaign", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (rendered, count) = render(&name, &source);
        if name.starts_with("err_") {
            assert!(count > 0, "{name} should produce a diagnostic");
        } else {
            assert_eq!(count, 0, "{name} should be clean:\n{rendered}");
        }
        insta::with_settings!({ description => source.clone(), omit_expression => true }, {
            insta::assert_snapshot!(rendered);
        });
    });
}

/// Every diagnostic code the checks can produce has a fixture.
#[test]
fn every_code_has_a_fixture() {
    let mut codes = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir("tests/diagnostics").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "campaign") {
            let source = std::fs::read_to_string(&path).unwrap();
            let (rendered, _) = render("x", &source);
            for line in rendered.lines() {
                if let Some(code) = line
                    .split_whitespace()
                    .nth(1)
                    .filter(|c| c.starts_with("campaign::"))
                {
                    codes.insert(code.to_string());
                }
            }
        }
    }
    let skip = [
        "campaign::source::", // from reading the file: tested in tests/cli.rs and tests/limits.rs
        "campaign::syntax::too_complex", // pest's call limit; no small input reaches it
        "campaign::internal::", // a bug if it ever shows
    ];
    let mut missing: Vec<String> = campaign::diagnostics::codes::ALL
        .iter()
        .filter(|c| {
            use campaign::diagnostics::codes::Kind;
            matches!(c.kind, Kind::Error | Kind::Warning)
        })
        .map(|c| c.code)
        .filter(|code| !codes.contains(*code) && !skip.iter().any(|s| code.starts_with(s)))
        .map(String::from)
        .collect();
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
}
