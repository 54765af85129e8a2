//! Credentials written into the script as literal text: they belong in the
//! environment, read with `secret("NAME")`.

use super::walk_webhooks;
use crate::diagnostics::{codes, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{
    literal_text, literal_tokens_in, Campaign, HeaderPiece, Json, JsonKind, LiteralRole, Member,
    Part, Setting,
};
use crate::syntax::post::PostPair;

/// Name pieces that mark a credential.
const WORDS: &[&str] = &[
    "key",
    "apikey",
    "token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "auth",
    "authorization",
    "appid",
    "credential",
    "credentials",
    "bearer",
    "apisecret",
    "accesstoken",
    "clientsecret",
];

/// Whether a label or header name looks like it carries a credential.
pub(crate) fn is_credential_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let joined: String = lower
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    if [
        "apikey",
        "accesstoken",
        "password",
        "secret",
        "authorization",
    ]
    .iter()
    .any(|w| joined.contains(w))
    {
        return true;
    }
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|piece| WORDS.contains(&piece))
}

/// `Api-Key` -> `API_KEY`, for the suggested secret name.
fn env_name(label: &str) -> String {
    let mut out: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert_str(0, "SECRET_");
    }
    out
}

fn warn(out: &mut Vec<Diagnostic>, name: &str, span: Span, help: String) {
    out.push(credential(name, span, help));
}

fn credential(name: &str, span: Span, help: String) -> Diagnostic {
    Diagnostic::warning(
        codes::CREDENTIAL_LITERAL,
        span,
        format!("`{name}` looks like a credential written into the script"),
    )
    .label("credential in plain text")
    .help(help)
}

pub(super) fn check(campaign: &Campaign, out: &mut Vec<Diagnostic>) {
    walk_webhooks(campaign, &mut |w| {
        for s in &w.settings {
            match &s.node {
                Setting::Header { name, value } => {
                    let texts = value.iter().filter_map(|p| match p {
                        HeaderPiece::Text(t) => Some(t),
                        HeaderPiece::Secret(_) => None,
                    });
                    let has_secret = value.iter().any(|p| matches!(p, HeaderPiece::Secret(_)));
                    let all_text = texts.clone().all(|t| t.merges().next().is_none());
                    let any_part = texts.clone().any(|t| !t.parts().is_empty());
                    if is_credential_name(&name.node) && !has_secret && all_text && any_part {
                        let span = value
                            .iter()
                            .filter_map(|p| match p {
                                HeaderPiece::Text(t) => Some(t.span),
                                HeaderPiece::Secret(_) => None,
                            })
                            .reduce(Span::to)
                            .unwrap_or(name.span);
                        let secret = format!("secret(\"{}\")", env_name(&name.node));
                        let help = format!(
                            "keep it in the environment: `header \"{}\" = {secret}`",
                            name.node,
                        );
                        // Only a header can read a secret: the whole value
                        // becomes the call.
                        out.push(credential(&name.node, span, help).with_fix(
                            format!("read it with `{secret}`"),
                            span,
                            secret,
                        ));
                    }
                }
                // Post data is split once, by the post-data checks, which
                // call `post_pair` for each pair.
                Setting::Url(url) => {
                    // Literal query parameters: `?api_key=abc`.
                    for part in url.parts().iter() {
                        let Part::Text(t) = part else { continue };
                        let Some(q) = t.node.find('?') else { continue };
                        let mut offset = q + 1;
                        for pair in t.node[q + 1..].split('&') {
                            if let Some((label, value)) = pair.split_once('=') {
                                if is_credential_name(label)
                                    && !value.is_empty()
                                    && t.span.len() == t.node.len()
                                {
                                    let start = t.span.start as usize + offset + label.len() + 1;
                                    let span = Span::new(start, start + value.len());
                                    let help = format!(
                                        "URLs end up in logs; send it as `header \"{label}\" = secret(\"{}\")` if the API allows",
                                        env_name(label)
                                    );
                                    warn(out, label, span, help);
                                }
                            }
                            offset += pair.len() + 1;
                        }
                    }
                }
                Setting::Json(json) => json_members(json, out),
                _ => {}
            }
        }
    });
}

/// A post-data pair whose label looks like a credential and whose value is
/// literal text.
pub(super) fn post_pair(pair: &PostPair, out: &mut Vec<Diagnostic>) {
    let (Some(label), Some(value)) = (pair.literal_label(), pair.literal_value()) else {
        return;
    };
    if is_credential_name(&label) && !value.is_empty() {
        let help = format!(
            "send it from the environment instead: `header \"{label}\" = secret(\"{}\")` (APIs such as ONTRAPORT's read keys from headers)",
            env_name(&label)
        );
        warn(out, &label, pair.value_span().unwrap_or(pair.span), help);
    }
}

/// A JSON member whose value is literal text that is not empty, written at
/// `value`.
fn json_member(key: &str, value: Span, out: &mut Vec<Diagnostic>) {
    if is_credential_name(key) {
        let help = format!(
            "keep it in the environment and send it as `header \"{key}\" = secret(\"{}\")` if the API allows",
            env_name(key)
        );
        warn(out, key, value, help);
    }
}

fn json_members(json: &Json, out: &mut Vec<Diagnostic>) {
    match &json.kind {
        JsonKind::Object(members) => {
            for member in members {
                match member {
                    Member::One(key, value) => {
                        if let JsonKind::Str(t) = &value.kind {
                            if t.as_literal().is_some_and(|v| !v.is_empty()) {
                                json_member(&key.node, t.span, out);
                            }
                        }
                        json_members(value, out);
                    }
                    Member::Run(run) => literal_members(&run.node, run.span, true, out),
                }
            }
        }
        JsonKind::Array(items) => items.iter().for_each(|v| json_members(v, out)),
        JsonKind::Literal(text) | JsonKind::Run(text) => {
            literal_members(text, json.span, false, out)
        }
        _ => {}
    }
}

/// The members of literal JSON text written at `at` (inside an object
/// when `in_object`).
fn literal_members(text: &str, at: Span, in_object: bool, out: &mut Vec<Diagnostic>) {
    // A key is followed by the first token of its value.
    let start = at.start as usize;
    let mut key = None;
    for t in literal_tokens_in(text, in_object) {
        match t.role {
            LiteralRole::Key => key = Some(literal_text(t.text)),
            LiteralRole::Value if t.text.len() > 2 && t.text.starts_with('"') => {
                if let Some(key) = key.take() {
                    let at = start + t.at;
                    json_member(key, Span::new(at, at + t.text.len()), out);
                }
            }
            _ => key = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_credential_name;

    #[test]
    fn recognises_credential_names() {
        for name in [
            "Api-Key",
            "api_key",
            "APIKEY",
            "token",
            "Authorization",
            "Api-Appid",
            "password",
            "X-Auth-Token",
            "client_secret",
        ] {
            assert!(is_credential_name(name), "{name}");
        }
        for name in [
            "First_Name",
            "Email",
            "keyword",
            "monkey",
            "author",
            "id",
            "data",
        ] {
            assert!(!is_credential_name(name), "{name}");
        }
    }
}
