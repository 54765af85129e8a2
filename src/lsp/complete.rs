//! Completion, from the text before the cursor: step keywords and
//! snippets where a step may start, settings inside a webhook, methods after
//! `method`, field names in a merge, filters after `|`, and secret names in
//! `secret("`. Field names come from the workspace's sample contacts, the
//! built-in fields, and what the campaign itself sets or captures.

use super::context::{merge_place, open_merge_in_string, scan, Block, MergePlace, State};
use super::docs;
use super::knowledge::Knowledge;
use crate::span::Span;

/// What an item completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A keyword (`stop`, `GET`, `continue`).
    Keyword,
    /// A step or setting written out with placeholders.
    Snippet,
    /// A contact field.
    Field,
    /// A merge filter.
    Filter,
    /// A secret's name.
    Secret,
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What the list shows.
    pub label: String,
    /// What it is.
    pub kind: ItemKind,
    /// A short line beside the label.
    pub detail: Option<String>,
    /// The paragraph shown for the selected item (Markdown).
    pub documentation: Option<String>,
    /// The text to insert, with `${1:placeholders}` when `snippet`.
    pub insert: String,
    /// Whether `insert` is an LSP snippet.
    pub snippet: bool,
    /// The bytes the insertion replaces (what is typed of the word).
    pub replace: Span,
}

/// Fields every contact has.
const BUILT_IN_FIELDS: &[&str] = &["Contact ID", "Tags"];

/// Steps: (label, snippet, plain text for clients without snippets).
const STEPS: &[(&str, &str, &str)] = &[
    ("webhook", "webhook \"${1:Name}\" {\n\turl \"https://${2:example.com/path}\"\n\tpost \"${3:Email=[Email]}\"\n}", "webhook \"Name\" {\n\turl \"https://example.com/path\"\n\tpost \"Email=[Email]\"\n}"),
    ("tag add", "tag add \"${1:Tag}\"", "tag add \"Tag\""),
    ("tag remove", "tag remove \"${1:Tag}\"", "tag remove \"Tag\""),
    ("field set", "field set [${1:Field}] = ${2:\"value\"}", "field set [Field] = \"value\""),
    ("note", "note \"${1:text}\"", "note \"text\""),
    ("wait", "wait ${1:2 days}", "wait 2 days"),
    ("wait until", "wait until ${1:[Date]}", "wait until [Date]"),
    ("if", "if ${1:[Field] == \"value\"} {\n\t$0\n}", "if [Field] == \"value\" {\n}"),
    ("if else", "if ${1:[Field] == \"value\"} {\n\t$2\n} else {\n\t$0\n}", "if [Field] == \"value\" {\n} else {\n}"),
    ("split", "split ${1:50}% {\n\t$2\n} else {\n\t$0\n}", "split 50% {\n} else {\n}"),
    ("stop", "stop", "stop"),
    ("goal", "goal \"${1:Name}\" when ${2:has tag \"${3:Tag}\"}", "goal \"Name\" when has tag \"Tag\""),
];

/// Triggers, at the campaign's top level.
const TRIGGERS: &[(&str, &str, &str)] = &[
    ("trigger contact_added", "trigger contact_added", "trigger contact_added"),
    ("trigger tag_added", "trigger tag_added \"${1:Tag}\"", "trigger tag_added \"Tag\""),
    ("trigger webhook_received", "trigger webhook_received \"${1:/hooks/signup}\" verify standard secret(\"${2:SIGNUP_SECRET}\")", "trigger webhook_received \"/hooks/signup\" verify standard secret(\"SIGNUP_SECRET\")"),
];

/// Webhook settings.
const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "method",
        "method ${1|POST,GET,PUT,PATCH,DELETE|}",
        "method POST",
    ),
    (
        "url",
        "url \"https://${1:example.com/path}\"",
        "url \"https://example.com/path\"",
    ),
    (
        "header",
        "header \"${1:Name}\" = ${2:\"value\"}",
        "header \"Name\" = \"value\"",
    ),
    (
        "post",
        "post \"${1:Email=[Email]}\"",
        "post \"Email=[Email]\"",
    ),
    (
        "json",
        "json {\n\t\"${1:email}\": ${2:[Email]}\n}",
        "json {\n\t\"email\": [Email]\n}",
    ),
    ("timeout", "timeout ${1:5s}", "timeout 5s"),
    ("retry", "retry ${1:3}", "retry 3"),
    ("backoff", "backoff ${1:1s}", "backoff 1s"),
    ("rate", "rate ${1:10}/${2:s}", "rate 10/s"),
    (
        "on failure",
        "on failure ${1|continue,stop|}",
        "on failure continue",
    ),
    (
        "sign",
        "sign secret(\"${1:WEBHOOK_SECRET}\")",
        "sign secret(\"WEBHOOK_SECRET\")",
    ),
    (
        "capture",
        "capture [${1:Field}] = json \"${2:/id}\"",
        "capture [Field] = json \"/id\"",
    ),
    ("dynamic host", "dynamic host", "dynamic host"),
];

/// HTTP methods, as `method` takes them.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Completions at byte `offset` of `text`; `snippets` when the editor takes
/// LSP snippets (else the plain forms are inserted).
pub fn complete(text: &str, offset: usize, knowledge: &Knowledge, snippets: bool) -> Vec<Item> {
    let offset = offset.min(text.len());
    let scanned = scan(text, offset);
    match scanned.state {
        State::Comment => Vec::new(),
        State::String(quote) => {
            if text[..quote].trim_end().ends_with("secret(") {
                let typed = &text[quote + 1..offset];
                return secrets(knowledge, Span::new(quote + 1, offset), typed);
            }
            match open_merge_in_string(text, quote, offset) {
                Some(open) => merge(text, open, offset, knowledge, snippets),
                None => Vec::new(),
            }
        }
        State::Bracket(open) => merge(text, open, offset, knowledge, snippets),
        State::Code => code(text, offset, scanned.block(), snippets),
    }
}

fn merge(
    text: &str,
    open: usize,
    offset: usize,
    knowledge: &Knowledge,
    snippets: bool,
) -> Vec<Item> {
    match merge_place(text, open, offset) {
        MergePlace::Field { start, .. } => {
            let replace = Span::new(start, offset);
            field_names(text, knowledge)
                .into_iter()
                .map(|(name, origin)| Item {
                    insert: name.clone(),
                    documentation: knowledge
                        .samples
                        .get(&name)
                        .map(|values| format!("Sample values: {}", quoted_list(values))),
                    label: name,
                    kind: ItemKind::Field,
                    detail: Some(origin),
                    snippet: false,
                    replace,
                })
                .collect()
        }
        MergePlace::Filter { start, .. } => {
            let replace = Span::new(start, offset);
            docs::FILTERS
                .iter()
                .map(|(name, args, doc)| {
                    // With placeholders, or the same text plain.
                    let (snippet_form, plain) = match *name {
                        "default" => ("default: '${1:text}'", "default: ''"),
                        "truncate" => ("truncate: ${1:20}", "truncate: 20"),
                        "replace" => ("replace: '${1:from}', '${2:to}'", "replace: '', ''"),
                        "date" => ("date: '${1:%Y-%m-%d}'", "date: '%Y-%m-%d'"),
                        _ => (*name, *name),
                    };
                    let snippet = snippets && snippet_form != plain;
                    let insert = if snippet { snippet_form } else { plain }.to_string();
                    Item {
                        label: name.to_string(),
                        kind: ItemKind::Filter,
                        detail: Some(format!("| {name}{args}")),
                        documentation: Some(doc.to_string()),
                        insert,
                        snippet,
                        replace,
                    }
                })
                .collect()
        }
        MergePlace::Arguments => Vec::new(),
    }
}

/// `` `a`, `b` ``
fn quoted_list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("`{}`", v.replace('`', "'")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Known field names with where each comes from: the sample contacts, the
/// built-in fields, and those the campaign writes.
pub fn field_names(text: &str, knowledge: &Knowledge) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |name: &str, origin: &str| {
        if !name.is_empty() && !out.iter().any(|(n, _)| n == name) {
            out.push((name.to_string(), origin.to_string()));
        }
    };
    if let Some(schema) = &knowledge.schema {
        for f in &schema.fields {
            push(f, "sample contacts");
        }
    }
    for f in BUILT_IN_FIELDS {
        push(f, "built-in field");
    }
    for (name, how) in written_fields(text) {
        push(name, how);
    }
    out
}

/// Fields after `field set [` and `capture [`, found lexically (the text
/// may not parse while it is typed).
fn written_fields(text: &str) -> Vec<(&str, &'static str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for open in memchr::memchr_iter(b'[', bytes) {
        let before = text[..open].trim_end();
        let how = if before.ends_with("set") && word_ends(before, "set") {
            "set by the campaign"
        } else if before.ends_with("capture") && word_ends(before, "capture") {
            "captured by a webhook"
        } else {
            continue;
        };
        let rest = &text[open + 1..];
        let Some(close) = rest.find([']', '\n', '|']) else {
            continue;
        };
        if rest.as_bytes()[close] == b']' {
            out.push((rest[..close].trim(), how));
        }
    }
    out
}

fn word_ends(before: &str, word: &str) -> bool {
    let start = before.len() - word.len();
    start == 0 || !is_word_byte(before.as_bytes()[start - 1])
}

fn secrets(knowledge: &Knowledge, replace: Span, _typed: &str) -> Vec<Item> {
    let origin = knowledge
        .workspace
        .as_ref()
        .and_then(|w| w.env_file.as_ref())
        .map(|p| {
            format!(
                "from {}",
                p.file_name().unwrap_or_default().to_string_lossy()
            )
        });
    knowledge
        .secrets
        .iter()
        .map(|name| Item {
            label: name.clone(),
            kind: ItemKind::Secret,
            detail: origin.clone(),
            documentation: None,
            insert: name.clone(),
            snippet: false,
            replace,
        })
        .collect()
}

fn code(text: &str, offset: usize, block: Block, snippets: bool) -> Vec<Item> {
    let bytes = text.as_bytes();
    let mut word_start = offset;
    while word_start > 0 && is_word_byte(bytes[word_start - 1]) {
        word_start -= 1;
    }
    let line_start = text[..word_start].rfind('\n').map_or(0, |i| i + 1);
    // The words before the one being typed, on this line.
    let before: Vec<&str> = text[line_start..word_start].split_whitespace().collect();
    let replace = Span::new(word_start, offset);
    let words = |list: &[&str]| -> Vec<Item> {
        list.iter()
            .map(|w| Item {
                label: w.to_string(),
                kind: ItemKind::Keyword,
                detail: None,
                documentation: docs::keyword(w).map(|(_, doc)| doc.to_string()),
                insert: w.to_string(),
                snippet: false,
                replace,
            })
            .collect()
    };
    let forms = |list: &[(&str, &str, &str)]| -> Vec<Item> {
        list.iter()
            .map(|(label, snippet, plain)| {
                let first = label.split(' ').next().unwrap_or(label);
                let (syntax, doc) = docs::keyword(first).unwrap_or(("", ""));
                Item {
                    label: label.to_string(),
                    kind: ItemKind::Snippet,
                    detail: (!syntax.is_empty()).then(|| syntax.replace('`', "")),
                    documentation: (!doc.is_empty()).then(|| doc.to_string()),
                    insert: if snippets { snippet } else { plain }.to_string(),
                    snippet: snippets,
                    replace,
                }
            })
            .collect()
    };
    match (block, before.as_slice()) {
        (Block::File, []) => forms(&[(
            "campaign",
            "campaign \"${1:Name}\" {\n\t$0\n}",
            "campaign \"Name\" {\n}",
        )]),
        (Block::Campaign | Block::Steps, []) => {
            let mut items = forms(STEPS);
            if block == Block::Campaign {
                items.extend(forms(TRIGGERS));
            }
            items
        }
        (Block::Campaign | Block::Steps, ["}"]) => words(&["else"]),
        (Block::Campaign, ["trigger"]) => {
            words(&["contact_added", "tag_added", "webhook_received"])
        }
        (Block::Campaign | Block::Steps, ["tag"]) => words(&["add", "remove"]),
        (Block::Campaign | Block::Steps, ["field"]) => words(&["set"]),
        (Block::Campaign | Block::Steps, ["wait"]) => words(&["until"]),
        (Block::Webhook, []) => forms(SETTINGS),
        (Block::Webhook, ["method"]) => words(METHODS),
        (Block::Webhook, ["on"]) => words(&["failure"]),
        (Block::Webhook, ["on", "failure"]) => words(&["continue", "stop"]),
        (Block::Webhook, ["dynamic"]) => words(&["host"]),
        (Block::Webhook, ["header", .., "=" | "+"]) => {
            forms(&[("secret", "secret(\"$1\")", "secret(\"\")")])
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Schema;

    fn labels(source: &str, knowledge: &Knowledge) -> Vec<String> {
        let at = source.find('¦').unwrap();
        let text = source.replacen('¦', "", 1);
        complete(&text, at, knowledge, true)
            .into_iter()
            .map(|i| i.label)
            .collect()
    }

    #[test]
    fn each_place_offers_its_own() {
        let knowledge = Knowledge {
            schema: Some(Schema {
                fields: vec!["First Name".into(), "Email".into()],
                origin: String::new(),
            }),
            secrets: vec!["API_KEY".into()],
            ..Knowledge::default()
        };
        let k = &knowledge;
        let steps = labels("campaign \"C\" {\n    if true {\n        we¦\n    }\n}", k);
        assert!(
            steps.contains(&"webhook".to_string())
                && !steps.iter().any(|s| s.starts_with("trigger"))
        );
        let top = labels("campaign \"C\" {\n    ¦\n}", k);
        assert!(top.contains(&"trigger tag_added".to_string()));
        let settings = labels(
            "campaign \"C\" {\n    webhook \"W\" {\n        ¦\n    }\n}",
            k,
        );
        assert!(
            settings.contains(&"dynamic host".to_string())
                && !settings.contains(&"stop".to_string())
        );
        assert_eq!(
            labels("campaign \"C\" { webhook \"W\" {\n method p¦", k),
            METHODS
        );
        let fields = labels("campaign \"C\" { field set [Score] = 1\n note \"Hi [Fi¦", k);
        assert_eq!(
            fields,
            ["First Name", "Email", "Contact ID", "Tags", "Score"]
        );
        let filters = labels("campaign \"C\" { if [Email | ¦", k);
        assert_eq!(filters.len(), crate::filters::FILTER_NAMES.len());
        let secrets = labels(
            "campaign \"C\" { webhook \"W\" {\n header \"K\" = secret(\"A¦",
            k,
        );
        assert_eq!(secrets, ["API_KEY"]);
        assert!(labels("campaign \"C\" { // we¦", k).is_empty());
        assert_eq!(
            labels("campaign \"C\" { webhook \"W\" {\n on failure ¦", k),
            ["continue", "stop"]
        );
    }

    #[test]
    fn replace_spans_cover_what_is_typed() {
        let text = "campaign \"C\" { note \"[Fir";
        let items = complete(text, text.len(), &Knowledge::default(), false);
        assert!(items.iter().all(|i| &text[i.replace.range()] == "Fir"));
        let text = "campaign \"C\" { [Email | tr";
        let items = complete(text, text.len(), &Knowledge::default(), false);
        assert!(items.iter().all(|i| &text[i.replace.range()] == "tr"));
        // Without snippet support, arguments are written plain.
        let default = items.iter().find(|i| i.label == "default").unwrap();
        assert_eq!(
            (default.insert.as_str(), default.snippet),
            ("default: ''", false)
        );
    }
}
