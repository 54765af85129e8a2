//! What a change to a campaign does to its requests: two dry runs' effects
//! for one contact, compared effect by effect and, for a request, part by
//! part (method, URL, each header, each body field of a form or JSON body).
//! `campaign diff` and `campaign test` report with it.
//!
//! Effects are matched by what they are (a webhook by its step's name, a
//! tag by its name, a field set by its field, a goal by its name...), in
//! order, as a longest common subsequence; what is left over was added or
//! removed. Differences that only the clock or the campaign's text make are
//! left out unless asked for: the `at` of an effect (a change to a wait
//! shows as the wait's change), idempotency keys (`Idempotency-Key` and
//! `webhook-id`: a dry run derives them from the campaign's text) and
//! `webhook-timestamp`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// What to compare.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also report differences in idempotency keys.
    pub keys: bool,
}

/// One difference in one contact's effects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `added`, `removed` or `changed`.
    pub kind: &'static str,
    /// What changed, for people and for grouping: `webhook "Create CRM
    /// contact" body field "Email"`.
    pub what: String,
    /// The value before (changed, removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value after (changed, added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

impl Change {
    /// The line that groups contacts in a summary: `webhook "X" body field
    /// "Email" changed`.
    pub fn group(&self) -> String {
        format!("{} {}", self.what, self.kind)
    }
}

/// Header names whose values are idempotency keys.
const KEY_HEADERS: [&str; 2] = ["Idempotency-Key", "webhook-id"];
/// Header names whose values come from the clock.
const CLOCK_HEADERS: [&str; 1] = ["webhook-timestamp"];

/// A contact's dry-run output (NDJSON lines) as effects; a line that is not
/// a JSON object (which a dry run never prints) is kept as text.
pub fn parse(lines: &[u8]) -> Vec<Value> {
    lines
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(l).into_owned()))
        })
        .collect()
}

/// Whether two contacts' outputs are the same once keys are set aside: the
/// fast path that spares parsing when nothing changed. No allocation: the
/// two are walked together, skipping the value of each key header.
pub fn same_output(old: &[u8], new: &[u8], options: Options) -> bool {
    if old == new {
        return true;
    }
    if options.keys {
        return false;
    }
    let (mut a, mut b) = (old, new);
    loop {
        match (next_key(a), next_key(b)) {
            (None, None) => return a == b,
            (Some(i), Some(j)) if i == j && a[..i] == b[..j] => {
                // A key is `msg_` and hex: it holds no quote or backslash.
                a = skip_value(&a[i..]);
                b = skip_value(&b[j..]);
            }
            _ => return false,
        }
    }
}

/// Where the value of the next key header starts (just past its opening
/// quote), if there is one.
fn next_key(bytes: &[u8]) -> Option<usize> {
    use std::sync::OnceLock;
    static FINDERS: OnceLock<Vec<memchr::memmem::Finder<'static>>> = OnceLock::new();
    let finders = FINDERS.get_or_init(|| {
        KEY_HEADERS
            .iter()
            .map(|h| memchr::memmem::Finder::new(format!("\"{h}\":\"").as_bytes()).into_owned())
            .collect()
    });
    finders
        .iter()
        .filter_map(|f| f.find(bytes).map(|at| at + f.needle().len()))
        .min()
}

/// `bytes` from the quote that closes the value it starts in.
fn skip_value(bytes: &[u8]) -> &[u8] {
    &bytes[memchr::memchr(b'"', bytes).unwrap_or(bytes.len())..]
}

/// One contact's changes: lines that are the same at the start and the
/// end (keys set aside) are not parsed; the rest are compared effect by
/// effect.
pub fn compare_output(old: &[u8], new: &[u8], options: Options) -> Vec<Change> {
    fn lines(b: &[u8]) -> Vec<&[u8]> {
        b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect()
    }
    let (a, b) = (lines(old), lines(new));
    let prefix = a
        .iter()
        .zip(&b)
        .take_while(|(x, y)| same_output(x, y, options))
        .count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| same_output(x, y, options))
        .count();
    let parse_all = |ls: &[&[u8]]| -> Vec<Value> {
        ls.iter()
            .map(|l| {
                serde_json::from_slice(l)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(l).into_owned()))
            })
            .collect()
    };
    compare(
        &parse_all(&a[prefix..a.len() - suffix]),
        &parse_all(&b[prefix..b.len() - suffix]),
        options,
    )
}

/// What an effect is, for matching the two sides.
fn identity(effect: &Value) -> (&str, &str) {
    let text = |k: &str| effect.get(k).and_then(Value::as_str).unwrap_or("");
    let action = text("action");
    let name = match action {
        "webhook" => text("step"),
        "tag_add" | "tag_remove" => text("tag"),
        "field_set" => text("field"),
        "goal" => text("goal"),
        "error" => text("code"),
        _ => "",
    };
    (action, name)
}

/// How an effect is named in a change: `webhook "Create CRM contact"`.
fn label(effect: &Value) -> String {
    let (action, name) = identity(effect);
    match action {
        "webhook" => format!("webhook {name:?}"),
        "tag_add" => format!("tag add {name:?}"),
        "tag_remove" => format!("tag remove {name:?}"),
        "field_set" => format!("field set {name:?}"),
        "goal" => format!("goal {name:?}"),
        "error" => format!("failure {name}"),
        "" => "effect".to_string(),
        other => other.replace('_', " "),
    }
}

/// The effect as one line of text, for an added or removed effect.
fn summary(effect: &Value) -> String {
    let mut effect = effect.clone();
    if let Value::Object(map) = &mut effect {
        map.remove("contact");
        map.remove("at");
    }
    effect.to_string()
}

/// The differences between one contact's effects before and after.
pub fn compare(old: &[Value], new: &[Value], options: Options) -> Vec<Change> {
    let a: Vec<_> = old.iter().map(identity).collect();
    let b: Vec<_> = new.iter().map(identity).collect();
    // Longest common subsequence of identities: contacts have few effects.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut changes = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            details(&old[i], &new[j], options, &mut changes);
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            changes.push(Change {
                kind: "added",
                what: label(&new[j]),
                old: None,
                new: Some(summary(&new[j])),
            });
            j += 1;
        } else {
            changes.push(Change {
                kind: "removed",
                what: label(&old[i]),
                old: Some(summary(&old[i])),
                new: None,
            });
            i += 1;
        }
    }
    changes
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn changed(out: &mut Vec<Change>, what: String, old: Option<String>, new: Option<String>) {
    let kind = match (&old, &new) {
        (None, None) => return,
        (Some(a), Some(b)) if a == b => return,
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
        _ => "changed",
    };
    out.push(Change {
        kind,
        what,
        old,
        new,
    });
}

/// Differences between two effects of the same identity.
fn details(old: &Value, new: &Value, options: Options, out: &mut Vec<Change>) {
    let name = label(old);
    let (action, _) = identity(old);
    if action != "webhook" {
        for key in ["value", "text", "seconds", "message"] {
            let what = match key {
                "value" => format!("{name} value"),
                "seconds" => format!("{name} seconds"),
                "message" => format!("{name} message"),
                _ => name.clone(),
            };
            changed(out, what, text_of(old.get(key)), text_of(new.get(key)));
        }
        return;
    }
    for key in ["method", "url"] {
        changed(
            out,
            format!("{name} {key}"),
            text_of(old.get(key)),
            text_of(new.get(key)),
        );
    }
    let empty = Map::new();
    let headers = |v: &Value| {
        v.get("headers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| empty.clone())
    };
    let (ha, hb) = (headers(old), headers(new));
    let mut names: Vec<&String> = ha.keys().chain(hb.keys()).collect();
    names.sort();
    names.dedup();
    for h in names {
        let skip = (!options.keys && KEY_HEADERS.iter().any(|k| k.eq_ignore_ascii_case(h)))
            || CLOCK_HEADERS.iter().any(|k| k.eq_ignore_ascii_case(h));
        if !skip {
            changed(
                out,
                format!("{name} header {h:?}"),
                text_of(ha.get(h)),
                text_of(hb.get(h)),
            );
        }
    }
    let content_type = |m: &Map<String, Value>| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let (ba, bb) = (text_of(old.get("body")), text_of(new.get("body")));
    if ba == bb {
        return;
    }
    let (ta, tb) = (content_type(&ha), content_type(&hb));
    let fields = |body: &Option<String>, kind: &str| -> Option<BTreeMap<String, String>> {
        let body = body.as_deref().unwrap_or("");
        if kind.starts_with("application/x-www-form-urlencoded") {
            Some(form_fields(body))
        } else if kind.starts_with("application/json") {
            serde_json::from_str::<Value>(body).ok().map(|v| {
                let mut flat = BTreeMap::new();
                flatten(&v, String::new(), &mut flat);
                flat
            })
        } else {
            None
        }
    };
    match (fields(&ba, &ta), fields(&bb, &tb)) {
        (Some(fa), Some(fb)) if ta == tb => {
            let mut keys: Vec<&String> = fa.keys().chain(fb.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                changed(
                    out,
                    format!("{name} body field {k:?}"),
                    fa.get(k).cloned(),
                    fb.get(k).cloned(),
                );
            }
        }
        _ => changed(out, format!("{name} body"), ba, bb),
    }
}

/// A webhook effect's body as fields: a form's decoded fields, or a JSON
/// body's leaves by path (`name`, `tags[0]`); `None` for other bodies.
pub fn body_fields(effect: &Value) -> Option<BTreeMap<String, String>> {
    let headers = effect.get("headers").and_then(Value::as_object)?;
    let kind = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = effect.get("body").and_then(Value::as_str).unwrap_or("");
    if kind.starts_with("application/x-www-form-urlencoded") {
        Some(form_fields(body))
    } else if kind.starts_with("application/json") {
        let v = serde_json::from_str::<Value>(body).ok()?;
        let mut flat = BTreeMap::new();
        flatten(&v, String::new(), &mut flat);
        // Text leaves without their JSON quotes: what a user writes.
        Some(
            flat.into_iter()
                .map(|(k, v)| match serde_json::from_str::<Value>(&v) {
                    Ok(Value::String(s)) => (k, s),
                    _ => (k, v),
                })
                .collect(),
        )
    } else {
        None
    }
}

/// A form body's fields, decoded; a name given twice gets `[n]` from its
/// second time on.
fn form_fields(body: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body.as_bytes()) {
        let n = seen.entry(k.to_string()).or_insert(0);
        let key = if *n == 0 {
            k.to_string()
        } else {
            format!("{k}[{n}]")
        };
        *n += 1;
        out.insert(key, v.into_owned());
    }
    out
}

/// A JSON value's leaves by path: `name`, `tags[0]`, `address.city`.
fn flatten(v: &Value, path: String, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(v, p, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, format!("{path}[{i}]"), out);
            }
        }
        leaf => {
            out.insert(path, leaf.to_string());
        }
    }
}

/// `old` and `new` split around what differs: (common prefix, old's
/// middle, new's middle, common suffix), at character boundaries. The
/// middle is what a report highlights.
pub fn split_change<'a>(old: &'a str, new: &'a str) -> (&'a str, &'a str, &'a str, &'a str) {
    let prefix = old
        .char_indices()
        .zip(new.chars())
        .find(|((_, a), b)| a != b)
        .map_or(old.len().min(new.len()), |((i, _), _)| i);
    let prefix = floor_char(old, prefix.min(new.len()));
    let (ra, rb) = (&old[prefix..], &new[prefix..]);
    let suffix = ra
        .chars()
        .rev()
        .zip(rb.chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum::<usize>();
    (
        &old[..prefix],
        &ra[..ra.len() - suffix],
        &rb[..rb.len() - suffix],
        &ra[ra.len() - suffix..],
    )
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(step: &str, body: &str, ct: &str) -> Value {
        json!({"contact": "1", "at": 0, "step": step, "action": "webhook", "method": "POST",
               "url": "https://x.example/a", "headers": {"Content-Type": ct, "Idempotency-Key": format!("msg_{step}")},
               "body": body})
    }

    #[test]
    fn a_form_field_change_is_named_and_keys_are_set_aside() {
        let old = vec![hook(
            "Create",
            "a=1&Email=x%40y",
            "application/x-www-form-urlencoded",
        )];
        let new = vec![hook(
            "Create",
            "a=1&Email=z%40y",
            "application/x-www-form-urlencoded",
        )];
        let mut new_key = new.clone();
        new_key[0]["headers"]["Idempotency-Key"] = json!("msg_other");
        let changes = compare(&old, &new_key, Options::default());
        assert_eq!(
            changes,
            vec![Change {
                kind: "changed",
                what: "webhook \"Create\" body field \"Email\"".into(),
                old: Some("x@y".into()),
                new: Some("z@y".into()),
            }]
        );
        let with_keys = compare(&old, &new_key, Options { keys: true });
        assert!(with_keys.iter().any(|c| c.what.contains("Idempotency-Key")));
    }

    #[test]
    fn json_bodies_compare_by_path_and_steps_added_or_removed_are_whole() {
        let old = vec![
            hook(
                "Sync",
                r#"{"name":"Ada","tags":["a","b"]}"#,
                "application/json",
            ),
            json!({"contact": "1", "at": 0, "action": "tag_add", "tag": "Hot"}),
        ];
        let new = vec![hook(
            "Sync",
            r#"{"name":"Ada","tags":["a","c"]}"#,
            "application/json",
        )];
        let changes = compare(&old, &new, Options::default());
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].what, "webhook \"Sync\" body field \"tags[1]\"");
        assert_eq!(changes[1].kind, "removed");
        assert_eq!(changes[1].what, "tag add \"Hot\"");
    }

    #[test]
    fn same_output_ignores_only_key_values() {
        let a = br#"{"headers":{"Idempotency-Key":"msg_aa","webhook-id":"msg_aa"},"body":"x"}"#;
        let b = br#"{"headers":{"Idempotency-Key":"msg_bb","webhook-id":"msg_bb"},"body":"x"}"#;
        let c = br#"{"headers":{"Idempotency-Key":"msg_bb","webhook-id":"msg_bb"},"body":"y"}"#;
        assert!(same_output(a, b, Options::default()));
        assert!(!same_output(a, b, Options { keys: true }));
        assert!(!same_output(a, c, Options::default()));
    }

    #[test]
    fn trimming_equal_lines_changes_no_result() {
        let line = |v: &Value| format!("{v}\n");
        let a = [
            json!({"contact":"1","at":0,"action":"tag_add","tag":"A"}),
            hook("Create", "Email=x", "application/x-www-form-urlencoded"),
            json!({"contact":"1","at":0,"action":"note","text":"n"}),
        ];
        let mut b = a.clone();
        b[1] = hook("Create", "Email=y", "application/x-www-form-urlencoded");
        b[1]["headers"]["Idempotency-Key"] = json!("msg_other");
        let (old, new): (String, String) =
            (a.iter().map(line).collect(), b.iter().map(line).collect());
        let trimmed = compare_output(old.as_bytes(), new.as_bytes(), Options::default());
        assert_eq!(trimmed, compare(&a, &b, Options::default()));
        assert_eq!(trimmed.len(), 1);
    }

    #[test]
    fn the_changed_middle_is_found_at_character_boundaries() {
        assert_eq!(
            split_change("abcXdef", "abcYYdef"),
            ("abc", "X", "YY", "def")
        );
        assert_eq!(split_change("é1", "é2"), ("é", "1", "2", ""));
        assert_eq!(split_change("same", "same"), ("same", "", "", ""));
    }
}
