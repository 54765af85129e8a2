//! `campaign check`.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use campaign::check::Schema;
use campaign::contacts::{field_names, ContactsFormat};
use campaign::diagnostics::{Diagnostic, SourceFile};

use super::inputs::{contacts_format, read_source};
use super::output::stdout_went_away;
use super::render::{note_hidden, plural, render_capped};
use super::CheckFormat;

/// A JSON array written element by element, byte for byte as
/// `serde_json::to_string_pretty` writes a whole one, so memory does not
/// grow with the number of diagnostics. The first write error stops it.
pub(super) struct JsonArray<W: Write> {
    out: W,
    count: usize,
    error: Option<io::Error>,
}

impl<W: Write> JsonArray<W> {
    fn new(out: W) -> Self {
        JsonArray {
            out,
            count: 0,
            error: None,
        }
    }

    fn push(&mut self, value: &serde_json::Value) {
        if self.error.is_some() {
            return;
        }
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        let mut chunk = String::with_capacity(text.len() + 64);
        chunk.push_str(if self.count == 0 { "[\n" } else { ",\n" });
        // Pretty JSON escapes line breaks inside strings: every line is structure.
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                chunk.push('\n');
            }
            chunk.push_str("  ");
            chunk.push_str(line);
        }
        self.count += 1;
        if let Err(e) = self.out.write_all(chunk.as_bytes()) {
            self.error = Some(e);
        }
    }

    fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let end = if self.count == 0 { "[]\n" } else { "\n]\n" };
        self.out.write_all(end.as_bytes())?;
        self.out.flush()
    }
}

/// Largest `--schema` file read: far beyond any real list of field names.
pub(super) const SCHEMA_LIMIT: u64 = 16 << 20;

pub(super) fn load_schema(
    contacts: Option<&Path>,
    format: Option<ContactsFormat>,
    schema: Option<&str>,
) -> Result<Option<Schema>, String> {
    if let Some(path) = contacts {
        let format = contacts_format(path, format)?;
        let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let fields = field_names(BufReader::new(file), format)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(Some(Schema {
            fields,
            origin: format!("the sample contacts ({})", path.display()),
        }));
    }
    let Some(schema) = schema else {
        return Ok(None);
    };
    let path = Path::new(schema);
    // Anything that exists and is not a directory is read as a file, so
    // `--schema <(...)` and `/dev/stdin` work; a list may contain no file name.
    let is_file = std::fs::metadata(path).is_ok_and(|m| !m.is_dir());
    let fields: Vec<String> = if is_file {
        let bytes = campaign::input::read_limited(path, SCHEMA_LIMIT).map_err(|e| e.to_string())?;
        let text = String::from_utf8(bytes).map_err(|e| {
            format!(
                "cannot read {schema}: not UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            )
        })?;
        if text.trim_start().starts_with('[') {
            serde_json::from_str(&text)
                .map_err(|e| format!("{schema}: expected a JSON array of field names: {e}"))?
        } else {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect()
        }
    } else if !schema.contains(',')
        && (schema.ends_with(".txt") || schema.ends_with(".json") || schema.contains('/'))
    {
        return Err(format!("cannot read schema file {schema}: no such file"));
    } else {
        schema
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect()
    };
    Ok(Some(Schema {
        fields,
        origin: if is_file {
            format!("the schema ({schema})")
        } else {
            "the schema".into()
        },
    }))
}

pub(super) fn check(
    files: &[PathBuf],
    schema: Option<&Schema>,
    format: CheckFormat,
    deny_warnings: bool,
) -> ExitCode {
    let mut errors = 0;
    let mut warnings = 0;
    let mut unreadable = false;
    let mut json = JsonArray::new(io::BufWriter::new(io::stdout().lock()));
    let (mut shown, mut hidden) = (0, 0);
    for path in files {
        let Some(source) = read_source(path) else {
            unreadable = true;
            continue;
        };
        let (source, diagnostics) = match source {
            Ok(s) => {
                let d = campaign::diagnose(&s.text, schema);
                (s, d)
            }
            Err((s, d)) => (s, vec![d]),
        };
        errors += diagnostics.iter().filter(|d| d.is_error()).count();
        warnings += diagnostics.iter().filter(|d| !d.is_error()).count();
        match format {
            CheckFormat::Human => hidden += render_capped(&source, &diagnostics, &mut shown),
            CheckFormat::Json => {
                for d in &diagnostics {
                    json.push(&diagnostic_json(&source, d));
                }
            }
        }
    }
    match format {
        CheckFormat::Json => {
            if let Err(e) = json.finish() {
                if !stdout_went_away(&e) {
                    return ExitCode::FAILURE;
                }
            }
        }
        CheckFormat::Human => {
            note_hidden(hidden);
            eprintln!(
                "checked {}: {}, {}",
                plural(files.len() as u64, "file"),
                plural(errors as u64, "error"),
                plural(warnings as u64, "warning")
            );
        }
    }
    if unreadable || errors > 0 || (deny_warnings && warnings > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Longest `message`, `label` or `help` in JSON output, in bytes.
pub(super) const JSON_TEXT_BYTES: usize = 1024;

pub(super) fn diagnostic_json(source: &SourceFile, d: &Diagnostic) -> serde_json::Value {
    use campaign::diagnostics::clip;
    let (line, column) = source.line_col(d.span.start);
    let (end_line, end_column) = source.line_col(d.span.end);
    serde_json::json!({
        "file": source.name,
        "severity": d.severity,
        "code": d.code,
        "message": clip(&d.message, JSON_TEXT_BYTES),
        "span": { "start": d.span.start, "end": d.span.end },
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "label": clip(&d.label, JSON_TEXT_BYTES),
        "help": d.help.as_deref().map(|h| clip(h, JSON_TEXT_BYTES)),
    })
}
