//! Campaigns under test: the test file beside a campaign
//! (`welcome.campaign.test`, TOML) names contacts and what each must get,
//! and this module checks a dry run's effects against it. `campaign test`
//! runs the files; docs/testing.md describes the format.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::diff;

/// When contacts enter in a test that names no `now`: fixed, so that dates
/// and waits come out the same on every run.
pub const DEFAULT_NOW: &str = "2026-01-01T00:00:00Z";

/// A test file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The campaign, relative to the test file; default: the test file's
    /// name without `.test`.
    pub campaign: Option<String>,
    /// When the contacts enter (RFC 3339); default [`DEFAULT_NOW`].
    pub now: Option<String>,
    /// A contacts file, relative to the test file.
    pub contacts: Option<String>,
    /// Contacts written in the test file: one table of fields each.
    #[serde(default)]
    pub contact: Vec<BTreeMap<String, toml::Value>>,
    /// The golden file of the whole dry run: `true` (the default) for
    /// `NAME.campaign.golden.ndjson` beside the test, a path, or `false`
    /// for none.
    pub golden: Option<toml::Value>,
    /// Checks on parts of the effects.
    #[serde(default)]
    pub expect: Vec<Expect>,
}

/// What one contact must (or must not) get.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The contact's id.
    pub contact: String,
    /// It gets this webhook step's request...
    pub webhook: Option<String>,
    /// ...with this exact URL...
    pub url: Option<String>,
    /// ...these header values...
    pub headers: Option<BTreeMap<String, String>>,
    /// ...and these body fields (a form's fields, or a JSON body's leaves
    /// by path: `name`, `tags[0]`, `address.city`).
    pub body: Option<BTreeMap<String, String>>,
    /// It does not get this webhook step's request.
    pub no_webhook: Option<String>,
    /// The campaign adds this tag to it.
    pub tag: Option<String>,
    /// The campaign does not add this tag.
    pub no_tag: Option<String>,
    /// The campaign sets these fields to these values.
    pub field: Option<BTreeMap<String, String>>,
    /// It reaches this goal.
    pub goal: Option<String>,
    /// It does not reach this goal.
    pub no_goal: Option<String>,
    /// It fails with this code (`campaign::run::filter`).
    pub fails: Option<String>,
}

fn text(effect: &Value, key: &str) -> String {
    effect
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn has(effects: &[Value], action: &str, key: &str, value: &str) -> bool {
    effects
        .iter()
        .any(|e| text(e, "action") == action && text(e, key) == value)
}

/// Every way `effects` (one contact's, in dry-run NDJSON form) fall short
/// of `expect`; empty when they meet it.
pub fn check(expect: &Expect, effects: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let wants_request = expect.url.is_some() || expect.headers.is_some() || expect.body.is_some();
    if let Some(step) = &expect.webhook {
        let sent: Vec<&Value> = effects
            .iter()
            .filter(|e| text(e, "action") == "webhook" && text(e, "step") == *step)
            .collect();
        match sent.first() {
            None => problems.push(format!("webhook {step:?} was not sent")),
            Some(request) => {
                if let Some(url) = &expect.url {
                    let got = text(request, "url");
                    if got != *url {
                        problems.push(format!(
                            "webhook {step:?} url: expected {url:?}, got {got:?}"
                        ));
                    }
                }
                for (name, want) in expect.headers.iter().flatten() {
                    let got = request
                        .get("headers")
                        .and_then(Value::as_object)
                        .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                        .and_then(|(_, v)| v.as_str());
                    if got != Some(want.as_str()) {
                        problems.push(format!(
                            "webhook {step:?} header {name:?}: expected {want:?}, got {}",
                            got.map_or("none".into(), |g| format!("{g:?}"))
                        ));
                    }
                }
                if let Some(body) = &expect.body {
                    match diff::body_fields(request) {
                        None => problems.push(format!(
                            "webhook {step:?} body: not a form or JSON body, so it has no fields"
                        )),
                        Some(fields) => {
                            for (name, want) in body {
                                let got = fields.get(name);
                                if got != Some(want) {
                                    problems.push(format!(
                                        "webhook {step:?} body field {name:?}: expected {want:?}, got {}",
                                        got.map_or("none".into(), |g| format!("{g:?}"))
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
    } else if wants_request {
        problems.push("`url`, `headers` and `body` need `webhook = \"Step name\"`".into());
    }
    if let Some(step) = &expect.no_webhook {
        if has(effects, "webhook", "step", step) {
            problems.push(format!("webhook {step:?} was sent, and should not be"));
        }
    }
    if let Some(tag) = &expect.tag {
        if !has(effects, "tag_add", "tag", tag) {
            problems.push(format!("tag {tag:?} was not added"));
        }
    }
    if let Some(tag) = &expect.no_tag {
        if has(effects, "tag_add", "tag", tag) {
            problems.push(format!("tag {tag:?} was added, and should not be"));
        }
    }
    for (field, want) in expect.field.iter().flatten() {
        let last = effects
            .iter()
            .rfind(|e| text(e, "action") == "field_set" && text(e, "field") == *field)
            .map(|e| text(e, "value"));
        if last.as_deref() != Some(want.as_str()) {
            problems.push(format!(
                "field {field:?}: expected to be set to {want:?}, {}",
                last.map_or("it was not set".into(), |g| format!("was set to {g:?}"))
            ));
        }
    }
    if let Some(goal) = &expect.goal {
        if !has(effects, "goal", "goal", goal) {
            problems.push(format!("goal {goal:?} was not reached"));
        }
    }
    if let Some(goal) = &expect.no_goal {
        if has(effects, "goal", "goal", goal) {
            problems.push(format!("goal {goal:?} was reached, and should not be"));
        }
    }
    let failure = effects.iter().find(|e| text(e, "action") == "error");
    match (&expect.fails, failure) {
        (Some(code), Some(e)) if text(e, "code") != *code => problems.push(format!(
            "expected to fail with {code}, failed with {}: {}",
            text(e, "code"),
            text(e, "message")
        )),
        (Some(code), None) => {
            problems.push(format!("expected to fail with {code}, but it did not fail"))
        }
        (None, Some(e)) => problems.push(format!(
            "failed with {}: {}",
            text(e, "code"),
            text(e, "message")
        )),
        _ => {}
    }
    problems
}

/// Inline contacts as NDJSON, every value as text (TOML numbers and
/// booleans as written; a list as comma-separated text, as `Tags` is).
pub fn inline_contacts(rows: &[BTreeMap<String, toml::Value>]) -> String {
    let mut out = String::new();
    for row in rows {
        let object: serde_json::Map<String, Value> = row
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::Array(items) => {
                        items.iter().map(scalar).collect::<Vec<_>>().join(",")
                    }
                    other => scalar(other),
                };
                (k.clone(), Value::String(text))
            })
            .collect();
        out.push_str(&Value::Object(object).to_string());
        out.push('\n');
    }
    out
}

/// A TOML value as the text a contacts file would hold.
fn scalar(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(","),
        toml::Value::Table(_) => String::new(),
    }
}

/// A golden file's lines grouped by contact, in order.
pub fn group_by_contact(ndjson: &str) -> Vec<(String, String)> {
    let mut groups: Vec<(String, String)> = Vec::new();
    for line in ndjson.lines().filter(|l| !l.trim().is_empty()) {
        let id = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("contact").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        match groups.last_mut() {
            Some((last, lines)) if *last == id => {
                lines.push_str(line);
                lines.push('\n');
            }
            _ => groups.push((id, format!("{line}\n"))),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn effects() -> Vec<Value> {
        vec![
            json!({"contact":"1","at":0,"step":"Create","action":"webhook","method":"POST","url":"https://x.example/c",
                   "headers":{"Content-Type":"application/x-www-form-urlencoded","X-Source":"campaign"},
                   "body":"Email=a%40b.example&Name=Ada"}),
            json!({"contact":"1","at":0,"action":"tag_add","tag":"Hot"}),
            json!({"contact":"1","at":0,"action":"field_set","field":"Status","value":"Hot"}),
            json!({"contact":"1","at":0,"action":"goal","goal":"Bought"}),
        ]
    }

    #[test]
    fn met_expectations_report_nothing() {
        let mut body = BTreeMap::new();
        body.insert("Email".to_string(), "a@b.example".to_string());
        let e = Expect {
            contact: "1".into(),
            webhook: Some("Create".into()),
            url: Some("https://x.example/c".into()),
            body: Some(body),
            tag: Some("Hot".into()),
            no_tag: Some("Cold".into()),
            goal: Some("Bought".into()),
            no_webhook: Some("Other".into()),
            ..Expect::default()
        };
        assert_eq!(check(&e, &effects()), Vec::<String>::new());
    }

    #[test]
    fn each_unmet_expectation_is_named() {
        let mut field = BTreeMap::new();
        field.insert("Status".to_string(), "Cold".to_string());
        let e = Expect {
            contact: "1".into(),
            webhook: Some("Missing".into()),
            no_webhook: Some("Create".into()),
            tag: Some("Nope".into()),
            no_goal: Some("Bought".into()),
            field: Some(field),
            fails: Some("campaign::run::filter".into()),
            ..Expect::default()
        };
        let problems = check(&e, &effects());
        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(problems[0].contains("\"Missing\" was not sent"));
        assert!(problems.iter().any(|p| p.contains("was set to \"Hot\"")));
    }

    #[test]
    fn golden_lines_group_by_contact_in_order() {
        let g = group_by_contact(
            "{\"contact\":\"1\",\"a\":1}\n{\"contact\":\"1\",\"a\":2}\n{\"contact\":\"2\"}\n",
        );
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].1.lines().count(), 2);
        assert_eq!(g[1].0, "2");
    }
}
