//! Secrets for `secret("NAME")`: loading them from the environment (or an
//! env file) before a run, and redacting their values from everything the
//! run writes.
//!
//! Redaction is by value, as Zapier's logger does: whatever path a secret
//! takes into text (a server echoing a header back in an error body, a URL in
//! an error message), the value itself is recognised and replaced.

use std::borrow::Cow;
use std::env::VarError;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::input::{read_limited, Bytes, InputError};

/// Why secrets could not be loaded. No variant carries or prints a secret
/// value (not even part of a malformed line), because these errors are shown
/// to the user and may be logged.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Secrets that are unset or empty in both the environment and the env
    /// file: every one of them, so the user can fix them all at once.
    #[error("missing secret{}: {} (set {} in the environment or the --env-file)",
        if .0.len() == 1 { "" } else { "s" },
        .0.join(", "),
        if .0.len() == 1 { "it" } else { "them" })]
    Missing(Vec<String>),
    /// An environment variable holds bytes that are not UTF-8.
    #[error("secret {0} is not valid UTF-8 in the environment")]
    NotUnicode(String),
    /// The env file could not be read.
    #[error("cannot read env file {}: {source}", .path.display())]
    Read {
        /// The env file.
        path: PathBuf,
        /// The underlying error (never contains file contents).
        source: std::io::Error,
    },
    /// The env file is larger than [`ENV_FILE_LIMIT`].
    #[error("env file {} is larger than the limit of {}", .path.display(), Bytes(*.limit))]
    TooLarge {
        /// The env file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A line of the env file is not `NAME=value`.
    #[error("{}:{line}: {reason}", .path.display())]
    Malformed {
        /// The env file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong, without echoing the line.
        reason: &'static str,
    },
}

/// Reads the values of the secrets `names`, in that order, so a run can fail
/// before sending anything when one is missing.
///
/// Each name is looked up in the process environment first, then in
/// `env_file` (if given). The env file holds `NAME=value` lines; blank lines
/// and lines starting with `#` are ignored; `export NAME=value` is accepted;
/// a value may be wrapped in single or double quotes (kept verbatim inside,
/// no escape processing), and a quoted value may be followed by a `# comment`.
/// An unquoted value is everything after `=`, trimmed, `#` included. No
/// value expands `$NAME` or `${NAME}`, and none spans lines. A later line
/// for the same name wins. The whole file is checked even when the
/// environment supplies every secret, so a broken file is always reported.
///
/// Empty values count as missing. If any are missing the error lists every
/// one ([`SecretsError::Missing`]).
pub fn load(names: &[String], env_file: Option<&Path>) -> Result<Vec<String>, SecretsError> {
    let file = match env_file {
        Some(path) => parse_env_file(path)?,
        None => Vec::new(),
    };
    resolve(names, &file, |name| std::env::var(name))
}

/// Looks every name up in `env`, then in the parsed `file` entries.
fn resolve(
    names: &[String],
    file: &[(String, String)],
    env: impl Fn(&str) -> Result<String, VarError>,
) -> Result<Vec<String>, SecretsError> {
    let mut values = Vec::with_capacity(names.len());
    let mut missing: Vec<String> = Vec::new();
    for name in names {
        let from_env = match env(name) {
            Ok(value) => Some(value),
            Err(VarError::NotPresent) => None,
            // VarError's Display would print the value; never use it.
            Err(VarError::NotUnicode(_)) => return Err(SecretsError::NotUnicode(name.clone())),
        };
        let value = from_env.filter(|v| !v.is_empty()).or_else(|| {
            file.iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .filter(|v| !v.is_empty())
        });
        match value {
            Some(value) => values.push(value),
            None if missing.contains(name) => {}
            None => missing.push(name.clone()),
        }
    }
    if missing.is_empty() {
        Ok(values)
    } else {
        Err(SecretsError::Missing(missing))
    }
}

/// Largest env file read: a secrets file is a few lines, and a bound keeps
/// `--env-file /dev/zero` from filling memory.
pub const ENV_FILE_LIMIT: u64 = 1 << 20;

/// Reads and parses an env file.
fn parse_env_file(path: &Path) -> Result<Vec<(String, String)>, SecretsError> {
    let bytes = read_limited(path, ENV_FILE_LIMIT).map_err(|e| match e {
        InputError::Io { source, .. } => SecretsError::Read {
            path: path.to_path_buf(),
            source,
        },
        InputError::TooLarge { limit, .. } => SecretsError::TooLarge {
            path: path.to_path_buf(),
            limit,
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|_| SecretsError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not valid UTF-8"),
    })?;
    parse_env(&text).map_err(|(line, reason)| SecretsError::Malformed {
        path: path.to_path_buf(),
        line,
        reason,
    })
}

/// Parses env file text into `(name, value)` pairs in file order, or the
/// 1-based line number and reason of the first malformed line. Public for the
/// fuzz target; [`load`] says what the syntax is.
///
/// Not `dotenvy`, which reads these files differently where it matters for
/// secrets (each case is a test below): it expands `$NAME` and `${NAME}`
/// from the process environment, so a generated secret such as `pa$$w0rd`
/// silently becomes `pa`; it reads `\n` in an unquoted value as a line break;
/// it refuses a last line that ends in a space without a line break; and
/// its errors quote the whole line, secret included, without its number.
pub fn parse_env(text: &str) -> Result<Vec<(String, String)>, (usize, &'static str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let entry = parse_line(line).map_err(|reason| (index + 1, reason))?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Parses one trimmed, non-comment line.
fn parse_line(line: &str) -> Result<(String, String), &'static str> {
    let line = match line.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => line,
    };
    let Some((name, value)) = line.split_once('=') else {
        return Err("expected NAME=value");
    };
    let name = name.trim();
    let mut chars = name.chars();
    let valid_name = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err("invalid variable name (expected letters, digits and _)");
    }
    let value = value.trim();
    let value = match value.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let inner = &value[1..];
            let Some(end) = inner.find(quote) else {
                return Err("unterminated quoted value");
            };
            let rest = inner[end + 1..].trim_start();
            if !(rest.is_empty() || rest.starts_with('#')) {
                return Err("unexpected text after the closing quote");
            }
            &inner[..end]
        }
        _ => value,
    };
    Ok((name.to_string(), value.to_string()))
}

/// Replaces secret values in text, so nothing the run writes (output, logs,
/// errors, journal) contains a secret even when a server echoes it back.
///
/// Each secret is matched raw and in the encodings it is likely to travel
/// in: form-urlencoded and `encodeURIComponent` (with upper- or lowercase
/// hex), JSON string contents (minimal escaping as serde_json writes it, and
/// also with `\/` and `\uXXXX` escapes as PHP and others write it), and
/// base64 (standard and URL-safe, padded and unpadded). Every match becomes
/// `***`; overlapping matches are merged, so no fragment of one secret
/// survives inside another's match.
///
/// Not covered: a secret base64-encoded together with other text (such as
/// `user:secret` in Basic auth), whose encoding does not contain the
/// secret's own encoding. Very short secrets redact every occurrence of
/// their text, which can over-redact; that is the safe side.
///
/// `Debug` shows only how many patterns there are.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Distinct non-empty patterns, longest first.
    patterns: Vec<String>,
    /// Whether some pattern contains the mask's `*`.
    has_star: bool,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} patterns)", self.patterns.len())
    }
}

/// What every redacted span is replaced with.
const MASK: &str = "***";

impl Redactor {
    /// Builds a redactor for the given secret values (empty values are
    /// ignored), computing every encoded form once up front.
    pub fn new(values: &[String]) -> Redactor {
        let mut patterns: Vec<String> = Vec::new();
        for value in values.iter().filter(|v| !v.is_empty()) {
            patterns.extend(forms(value));
        }
        patterns.retain(|p| !p.is_empty());
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        patterns.dedup();
        let has_star = patterns.iter().any(|p| p.contains('*'));
        Redactor { patterns, has_star }
    }

    /// Whether there is nothing to redact, so callers can skip the call.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `text` with every occurrence of every secret form replaced by `***`.
    /// Borrows `text` unchanged when nothing matches, which is the common
    /// case for the many lines a run writes.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(mut redacted) = self.redact_once(text) else {
            return Cow::Borrowed(text);
        };
        // A pattern without `*` cannot reappear once every match is masked.
        // One with `*` could be completed by a mask's stars, so repeat until
        // nothing changes. Every changing pass masks at least one more
        // non-`*` char (or normalises star runs once), so the bound is only
        // a safety net. A secret made only of stars still matches the mask.
        if self.has_star {
            for _ in 0..=redacted.len() {
                match self.redact_once(&redacted) {
                    Some(again) if again != redacted => redacted = again,
                    _ => break,
                }
            }
        }
        Cow::Owned(redacted)
    }

    /// [`Redactor::redact`] for text that was cut short at its end (a body
    /// read up to a cap, or until a read failed): the text may end in the
    /// first characters of a secret, which match no whole form, so a tail
    /// that is the start of any form is masked as well. Any length counts,
    /// down to one character, because nothing tells a secret's first
    /// character from other text; masking a few harmless characters at the
    /// end of a text that was cut anyway costs nothing.
    pub fn redact_cut<'a>(&self, text: &'a str) -> Cow<'a, str> {
        // The tail is judged on the text as cut, before masking: once a
        // shorter form inside it is masked (unpadded base64 inside the
        // padded one), what is left of the longer form (`=`) is the
        // start of no form.
        let (head, cut_tail) = match self.tail_len(text, true) {
            Some(len) => (&text[..text.len() - len], true),
            None => (text, false),
        };
        let redacted = self.redact(head);
        // A whole secret that straddled the tail's start leaves its head
        // at the end of `head`.
        match (self.tail_len(&redacted, false), cut_tail) {
            (Some(len), _) => {
                let keep = redacted.len() - len;
                Cow::Owned(format!("{}{MASK}", &redacted[..keep]))
            }
            (None, true) => Cow::Owned(format!("{redacted}{MASK}")),
            (None, false) => redacted,
        }
    }

    /// The length of the longest start of a form that `text` ends with
    /// (`whole`: a whole form counts too).
    fn tail_len(&self, text: &str, whole: bool) -> Option<usize> {
        self.patterns
            .iter()
            .filter_map(|pattern| {
                pattern
                    .char_indices()
                    .skip(1)
                    .map(|(at, _)| at)
                    .chain(whole.then_some(pattern.len()))
                    .filter(|&at| text.ends_with(&pattern[..at]))
                    .max()
            })
            .max()
    }

    /// One masking pass over `text`, or `None` when nothing matches.
    fn redact_once(&self, text: &str) -> Option<String> {
        let first = self
            .patterns
            .iter()
            .position(|p| text.contains(p.as_str()))?;
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for pattern in &self.patterns[first..] {
            collect_matches(text, pattern, &mut spans);
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut spans = spans.into_iter().peekable();
        while let Some((start, mut end)) = spans.next() {
            // Merge overlapping or touching spans into one mask.
            while let Some(&(next_start, next_end)) = spans.peek() {
                if next_start > end {
                    break;
                }
                end = end.max(next_end);
                spans.next();
            }
            // Spans start and end on char boundaries (they are matches of
            // whole strings), so `get` always succeeds.
            out.push_str(text.get(copied..start).unwrap_or(""));
            out.push_str(MASK);
            copied = end;
        }
        out.push_str(text.get(copied..).unwrap_or(""));
        Some(out)
    }
}

/// Appends every match of `pattern` in `text`, overlapping ones included
/// (`aa` in `aaa` matches twice), as byte spans.
fn collect_matches(text: &str, pattern: &str, spans: &mut Vec<(usize, usize)>) {
    let mut from = 0;
    while let Some(found) = text.get(from..).and_then(|rest| rest.find(pattern)) {
        let start = from + found;
        spans.push((start, start + pattern.len()));
        // Step past the first char of this match to find overlapping ones.
        let step = pattern.chars().next().map_or(1, char::len_utf8);
        from = start + step;
    }
}

/// The forms of one secret value to look for: raw, form- and
/// percent-encoded, JSON-escaped and base64.
pub(crate) fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    let mut form = String::new();
    crate::encode::form_urlencode_into(&mut form, secret);
    let mut component = String::new();
    crate::encode::url_component_into(&mut component, secret);
    for encoded in [form, component] {
        let lower = lowercase_hex(&encoded);
        out.push(encoded);
        out.push(lower);
    }
    out.extend(json_forms(secret));
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push(engine.encode(secret));
    }
    out
}

/// `%XX` escapes with lowercase hex digits, as some encoders write them.
fn lowercase_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex_left = 0;
    for c in encoded.chars() {
        if c == '%' {
            hex_left = 2;
            out.push(c);
        } else if hex_left > 0 {
            hex_left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The contents of a JSON string holding `secret`, as different encoders
/// write them: minimal (serde_json), with `/` escaped, with non-ASCII as
/// `\uXXXX`, and both (PHP's `json_encode` default).
fn json_forms(secret: &str) -> Vec<String> {
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    let minimal = quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_default()
        .to_string();
    let slashes = minimal.replace('/', "\\/");
    let ascii = ascii_escape(&minimal);
    let both = ascii.replace('/', "\\/");
    vec![minimal, slashes, ascii, both]
}

/// Replaces every non-ASCII char with `\uXXXX` escapes (UTF-16, lowercase
/// hex, surrogate pairs beyond the BMP).
fn ascii_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    fn env_from<'a>(
        pairs: &'a [(&'a str, &'a str)],
    ) -> impl Fn(&str) -> Result<String, VarError> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
                .ok_or(VarError::NotPresent)
        }
    }

    #[test]
    fn environment_wins_over_the_file() {
        let file = vec![
            ("A".to_string(), "from-file".to_string()),
            ("B".to_string(), "b-file".to_string()),
        ];
        let env = env_from(&[("A", "from-env"), ("C", "c-env")]);
        let values = resolve(&strings(&["C", "A", "B"]), &file, env).expect("all present");
        assert_eq!(values, strings(&["c-env", "from-env", "b-file"]));
    }

    #[test]
    fn every_missing_secret_is_named_once() {
        let file = vec![("EMPTY_IN_FILE".to_string(), String::new())];
        let env = env_from(&[("SET", "x"), ("EMPTY", "")]);
        let names = strings(&["NOPE", "SET", "EMPTY", "EMPTY_IN_FILE", "NOPE", "ALSO"]);
        match resolve(&names, &file, env) {
            Err(SecretsError::Missing(missing)) => {
                assert_eq!(
                    missing,
                    strings(&["NOPE", "EMPTY", "EMPTY_IN_FILE", "ALSO"])
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn empty_env_value_falls_back_to_the_file() {
        let file = vec![("K".to_string(), "v".to_string())];
        let values = resolve(&strings(&["K"]), &file, env_from(&[("K", "")])).expect("present");
        assert_eq!(values, strings(&["v"]));
    }

    #[test]
    fn non_unicode_env_is_an_error_without_the_value() {
        let env = |_: &str| Err(VarError::NotUnicode("s3cr3t\u{fffd}".into()));
        let err = resolve(&strings(&["K"]), &[], env).expect_err("not unicode");
        assert!(matches!(err, SecretsError::NotUnicode(ref n) if n == "K"));
        assert!(!err.to_string().contains("s3cr3t"));
    }

    #[test]
    fn missing_message_lists_all() {
        let err = SecretsError::Missing(strings(&["A", "B"]));
        assert_eq!(
            err.to_string(),
            "missing secrets: A, B (set them in the environment or the --env-file)"
        );
        let err = SecretsError::Missing(strings(&["A"]));
        assert_eq!(
            err.to_string(),
            "missing secret: A (set it in the environment or the --env-file)"
        );
    }

    #[test]
    fn env_file_syntax() {
        let text = "\u{feff}# comment\n\n  \
            PLAIN=abc\n\
            export EXPORTED = spaced value \n\
            DOUBLE=\"has # hash and 'single'\"\n\
            SINGLE='has \"double\"' # trailing comment\n\
            HASH=abc#def\n\
            EQUALS=a=b=c\n\
            EMPTY=\n\
            EMPTY_QUOTED=\"\"\r\n\
            exportNAME=x\n\
            PLAIN=later\n";
        let entries = parse_env(text).expect("valid file");
        let expected = [
            ("PLAIN", "abc"),
            ("EXPORTED", "spaced value"),
            ("DOUBLE", "has # hash and 'single'"),
            ("SINGLE", "has \"double\""),
            ("HASH", "abc#def"),
            ("EQUALS", "a=b=c"),
            ("EMPTY", ""),
            ("EMPTY_QUOTED", ""),
            ("exportNAME", "x"),
            ("PLAIN", "later"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(entries, expected);
        let values = resolve(&strings(&["PLAIN"]), &entries, env_from(&[])).expect("present");
        assert_eq!(values, strings(&["later"]), "later lines win");
    }

    /// What a secret generator writes is the secret: no `$` expansion
    /// (from the file or the environment), no escapes, in any quoting.
    #[test]
    fn values_are_verbatim() {
        let text = "A=x\n\
            DOLLARS=pa$$w0rd\n\
            HOME_REF=abc$HOME\n\
            BRACES=${A}y\n\
            DOUBLE=\"${A}\\n$A\"\n\
            SINGLE='${A}\\n'\n\
            BACKSLASH=C:\\new\\path\n\
            QUOTED_BACKSLASH=\"C:\\path\"\n";
        let entries = parse_env(text).expect("valid file");
        let values: Vec<&str> = entries.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                "x",
                "pa$$w0rd",
                "abc$HOME",
                "${A}y",
                "${A}\\n$A",
                "${A}\\n",
                "C:\\new\\path",
                "C:\\path"
            ]
        );
    }

    /// The last line reads the same with or without a final line break,
    /// trailing blanks included.
    #[test]
    fn the_last_line_needs_no_line_break() {
        for text in [
            "K=abc ",
            "K=abc \n",
            "K=abc\t",
            "K='abc' ",
            "export K=abc  ",
        ] {
            let entries = parse_env(text).expect(text);
            assert_eq!(entries, [("K".to_string(), "abc".to_string())], "{text:?}");
        }
    }

    /// A quoted value ends on its line: a multi-line value is refused, not
    /// joined with the lines after it.
    #[test]
    fn a_value_never_spans_lines() {
        let (line, reason) = parse_env("A=1\nK=\"line one\nline two\"\n").expect_err("multi-line");
        assert_eq!((line, reason), (2, "unterminated quoted value"));
    }

    #[test]
    fn malformed_lines_report_line_numbers_not_values() {
        let cases = [
            ("OK=1\njust-a-secret-value\n", 2, "expected NAME=value"),
            (
                "OK=1\n\n# c\n1BAD=secretvalue\n",
                4,
                "invalid variable name",
            ),
            ("A B=secretvalue\n", 1, "invalid variable name"),
            ("=secretvalue\n", 1, "invalid variable name"),
            ("K=\"secretvalue\n", 1, "unterminated quoted value"),
            ("K='secretvalue\"\n", 1, "unterminated quoted value"),
            (
                "K=\"secret\"value\n",
                1,
                "unexpected text after the closing quote",
            ),
        ];
        for (text, line, reason) in cases {
            let (got_line, got_reason) = parse_env(text).expect_err(text);
            assert_eq!(got_line, line, "{text:?}");
            assert!(got_reason.starts_with(reason), "{text:?}: {got_reason}");
            let err = SecretsError::Malformed {
                path: PathBuf::from("x.env"),
                line: got_line,
                reason: got_reason,
            };
            let shown = err.to_string();
            assert!(!shown.contains("secret"), "{shown}");
            assert!(shown.starts_with(&format!("x.env:{line}: ")), "{shown}");
        }
    }

    #[test]
    fn load_reads_a_real_file() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "CAMPAIGN_TEST_ONLY_IN_FILE_7Q2=\"value one\"").expect("write");
        let names = strings(&["CAMPAIGN_TEST_ONLY_IN_FILE_7Q2"]);
        let values = load(&names, Some(file.path())).expect("loaded");
        assert_eq!(values, strings(&["value one"]));

        let names = strings(&["CAMPAIGN_TEST_NOWHERE_7Q2", "CAMPAIGN_TEST_NOWHERE_8Q2"]);
        match load(&names, Some(file.path())) {
            Err(SecretsError::Missing(missing)) => assert_eq!(missing, names),
            other => panic!("unexpected {other:?}"),
        }
        match load(&names, None) {
            Err(SecretsError::Missing(missing)) => assert_eq!(missing, names),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn load_reports_unreadable_and_malformed_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let absent = dir.path().join("absent.env");
        let err = load(&[], Some(&absent)).expect_err("absent");
        assert!(matches!(err, SecretsError::Read { .. }), "{err:?}");

        let bad = dir.path().join("bad.env");
        std::fs::write(&bad, "A=1\nB\"topsecret\n").expect("write");
        let err = load(&[], Some(&bad)).expect_err("malformed");
        assert!(
            matches!(err, SecretsError::Malformed { line: 2, .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("topsecret"));
    }

    /// Every form a canary secret is embedded in, for the leak checks.
    fn embeddings(secret: &str) -> Vec<String> {
        let mut out = forms(secret);
        out.push(serde_json::to_string(secret).expect("json"));
        out.push(serde_json::json!({ "error": "bad key", "key": secret }).to_string());
        out
    }

    /// Whether any known form of `secret` is left in `text`.
    fn leaks(text: &str, secret: &str) -> bool {
        forms(secret)
            .iter()
            .any(|form| text.contains(form.as_str()))
    }

    const CANARIES: &[&str] = &[
        "sk_live_CANARY_51HxYz",
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "p@ss word/with?odd&chars=+%~'\"\\",
        "ünïcødé-секрет-🔑",
        "tab\tand\nnewline",
    ];

    #[test]
    fn canaries_are_redacted_in_every_form() {
        let redactor = Redactor::new(&strings(CANARIES));
        for secret in CANARIES {
            for embedded in embeddings(secret) {
                let text = format!("POST /hook?key={embedded} -> 500: echo {embedded}!");
                let redacted = redactor.redact(&text);
                assert!(!leaks(&redacted, secret), "{secret:?} left in {redacted:?}");
                assert!(redacted.contains("***"), "{redacted}");
                assert!(redacted.starts_with("POST /hook?key="), "{redacted}");
                assert!(redacted.ends_with('!'), "{redacted}");
            }
        }
    }

    #[test]
    fn known_encodings_are_matched() {
        let secret = "a b/c+d";
        let redactor = Redactor::new(&strings(&[secret]));
        for text in [
            "a b/c+d",
            "a+b%2Fc%2Bd",   // form
            "a+b%2fc%2bd",   // form, lowercase hex
            "a%20b%2Fc%2Bd", // encodeURIComponent
            "a%20b%2fc%2bd", // lowercase hex
            "a b\\/c+d",     // JSON with escaped slash
            "YSBiL2MrZA==",  // base64
            "YSBiL2MrZA",    // unpadded
            "YSBiL2MrZA==",  // URL-safe is identical here
        ] {
            assert_eq!(redactor.redact(text), "***", "{text}");
        }
        let unicode = Redactor::new(&strings(&["é/🔑"]));
        assert_eq!(unicode.redact("\\u00e9\\/\\ud83d\\udd11"), "***");
        assert_eq!(unicode.redact("\\u00e9/\\ud83d\\udd11"), "***");
    }

    #[test]
    fn nothing_to_redact_borrows() {
        let redactor = Redactor::new(&strings(&["hunter22"]));
        assert!(matches!(
            redactor.redact("all clear"),
            Cow::Borrowed("all clear")
        ));
        let empty = Redactor::default();
        assert!(empty.is_empty());
        assert!(matches!(empty.redact("x"), Cow::Borrowed("x")));
        let only_empty = Redactor::new(&strings(&["", ""]));
        assert!(only_empty.is_empty());
        assert!(matches!(only_empty.redact("x"), Cow::Borrowed("x")));
    }

    #[test]
    fn overlapping_and_repeated_matches_merge() {
        let redactor = Redactor::new(&strings(&["ABC", "BCD"]));
        assert_eq!(redactor.redact("xABCDx"), "x***x");
        let redactor = Redactor::new(&strings(&["aa"]));
        assert_eq!(redactor.redact("aaa b aa"), "*** b ***");
        let redactor = Redactor::new(&strings(&["tok3n"]));
        assert_eq!(redactor.redact("tok3ntok3n tok3n"), "*** ***");
        assert_eq!(redactor.redact("tok3"), "tok3");
    }

    #[test]
    fn masks_do_not_complete_starred_secrets() {
        // One pass turns "xx*" into "x***", which holds "x*" again.
        let redactor = Redactor::new(&strings(&["x*"]));
        assert_eq!(redactor.redact("xx*"), "*****");
        for text in ["x*", "xx*", "xxx**", "ax*x*b", "xxxxxxxxxxxxxxxx*"] {
            let out = redactor.redact(text);
            assert!(!out.contains("x*"), "{text} -> {out}");
        }
        let stars = Redactor::new(&strings(&["**"]));
        assert_eq!(stars.redact("a**b"), "a***b");
    }

    #[test]
    fn a_cut_text_loses_a_tail_that_starts_a_secret() {
        let redactor = Redactor::new(&strings(&["sk_live_9xQ", "é/🔑"]));
        // The head of a secret, of any length, at the end: masked.
        assert_eq!(redactor.redact_cut("error: sk_live_9"), "error: ***");
        assert_eq!(redactor.redact_cut("error: s"), "error: ***");
        // In an encoded form too (form-encoded `é/` is `%C3%A9%2F`).
        assert_eq!(redactor.redact_cut("x=%C3%A9%2"), "x=***");
        // Whole secrets are masked as by `redact`, and other text stays.
        assert_eq!(redactor.redact_cut("a sk_live_9xQ b"), "a *** b");
        assert_eq!(redactor.redact_cut("nothing here"), "nothing here");
        // A text that is not cut keeps its tail with `redact`.
        assert_eq!(redactor.redact("error: sk_live_9"), "error: sk_live_9");
    }

    #[test]
    fn debug_hides_patterns() {
        let redactor = Redactor::new(&strings(&["hunter22"]));
        let shown = format!("{redactor:?}");
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(!shown.contains("aHVudGVy"), "{shown}");
    }

    proptest! {
        #[test]
        fn no_form_survives(
            secret in "\\PC{1,24}",
            before in "\\PC{0,16}",
            after in "\\PC{0,16}",
            which in 0usize..16,
        ) {
            // A secret of only `*` always matches the `***` mask itself.
            prop_assume!(!secret.chars().all(|c| c == '*'));
            let forms_list = embeddings(&secret);
            let embedded = &forms_list[which % forms_list.len()];
            let text = format!("{before}{embedded}{after}");
            let redactor = Redactor::new(std::slice::from_ref(&secret));
            let redacted = redactor.redact(&text);
            prop_assert!(!leaks(&redacted, &secret), "{:?} left in {:?}", secret, redacted);
        }

        #[test]
        fn unrelated_text_is_untouched(text in "[a-z ]{0,40}") {
            let redactor = Redactor::new(&strings(&["SECRET-0123"]));
            prop_assert!(matches!(redactor.redact(&text), Cow::Borrowed(_)));
        }
    }
}
