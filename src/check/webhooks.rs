//! Webhook settings: a URL, no duplicated settings, sane headers, secrets and
//! captures.

use super::walk_webhooks;
use crate::diagnostics::{codes, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{Campaign, CaptureSource, HeaderPiece, Method, Setting, Webhook};

pub(super) fn check(campaign: &Campaign, out: &mut Vec<Diagnostic>) {
    walk_webhooks(campaign, &mut |w| webhook(w, out));
}

/// The setting's keyword, for duplicate detection; `None` for repeatable ones.
fn singular(setting: &Setting) -> Option<&'static str> {
    Some(match setting {
        Setting::Method(_) => "method",
        Setting::Url(_) => "url",
        Setting::Post(_) | Setting::Json(_) => "body",
        Setting::Timeout(_) => "timeout",
        Setting::Retry(_) => "retry",
        Setting::Backoff(_) => "backoff",
        Setting::Rate(_) => "rate",
        Setting::OnFailure(_) => "on failure",
        Setting::Sign(_) => "sign",
        Setting::DynamicHost => "dynamic host",
        Setting::Header { .. } | Setting::Capture { .. } => return None,
    })
}

fn webhook(w: &Webhook, out: &mut Vec<Diagnostic>) {
    let mut seen: Vec<&'static str> = Vec::new();
    let mut method = Method::Post;
    let mut body: Option<Span> = None;
    let mut header_names: Vec<String> = Vec::new();
    for s in &w.settings {
        if let Some(key) = singular(&s.node) {
            if seen.contains(&key) {
                let message = if key == "body" {
                    "a webhook has one body: `post` or `json`, once".to_string()
                } else {
                    format!("`{key}` is set twice in this webhook")
                };
                out.push(
                    Diagnostic::error(codes::WEBHOOK_DUPLICATE_SETTING, s.span, message)
                        .label("repeated here")
                        .help("keep one; the second would silently win"),
                );
            }
            seen.push(key);
        }
        match &s.node {
            Setting::Method(m) => method = *m,
            Setting::Post(_) | Setting::Json(_) => body = Some(s.span),
            Setting::Header { name, value } => {
                header(name.node.as_str(), name.span, value, out);
                let lower = name.node.to_ascii_lowercase();
                if header_names.contains(&lower) {
                    out.push(
                        Diagnostic::warning(
                            codes::HEADER_DUPLICATE,
                            name.span,
                            format!("header `{}` is set twice", name.node),
                        )
                        .label("repeated header")
                        .help("both are sent; most servers keep only one of them"),
                    );
                }
                header_names.push(lower);
            }
            Setting::Sign(secret) => secret_name(&secret.node, secret.span, out),
            Setting::Timeout(d) if d.millis == 0 => out.push(
                Diagnostic::error(
                    codes::WEBHOOK_TIMEOUT,
                    s.span,
                    "a timeout of zero can never succeed",
                )
                .label("zero timeout")
                .help("e.g. `timeout 5s`; the default is 30s"),
            ),
            Setting::Capture {
                source: CaptureSource::JsonPointer(p),
                ..
            } if !(p.node.is_empty() || p.node.starts_with('/')) => {
                out.push(
                    Diagnostic::error(
                        codes::CAPTURE_POINTER,
                        p.span,
                        "a JSON pointer starts with `/`",
                    )
                    .label("not a JSON pointer")
                    .help(format!(
                        "e.g. `capture [CRM ID] = json \"/{}\"` (RFC 6901: `/` between keys)",
                        p.node.trim_start_matches(['.', '$']).replace('.', "/")
                    )),
                );
            }
            _ => {}
        }
    }
    if !seen.contains(&"url") {
        out.push(
            Diagnostic::error(
                codes::WEBHOOK_MISSING_URL,
                w.name.span,
                "this webhook has no `url`",
            )
            .label("no url")
            .help("every webhook needs the address to send to: `url \"https://...\"`"),
        );
    }
    if let (Method::Get, Some(span)) = (method, body) {
        out.push(
            Diagnostic::warning(codes::WEBHOOK_BODY_WITH_GET, span, "a GET request with a body")
                .label("body on a GET")
                .help("many servers and proxies drop GET bodies; use `method POST`, or move the data into the URL"),
        );
    }
}

fn header(name: &str, span: Span, value: &[HeaderPiece], out: &mut Vec<Diagnostic>) {
    let is_token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(is_token) {
        out.push(
            Diagnostic::error(
                codes::HEADER_INVALID_NAME,
                span,
                format!("{name:?} is not a valid header name"),
            )
            .label("invalid header name")
            .help("header names are letters, digits and `-` (RFC 9110 tokens), e.g. `X-Api-Key`"),
        );
    }
    for piece in value {
        match piece {
            HeaderPiece::Secret(s) => secret_name(&s.node, s.span, out),
            HeaderPiece::Text(t) => {
                // What an HTTP header value cannot carry: CR, LF and NUL
                // would end the header; other control characters (but tab)
                // make the value unsendable.
                let parts = t.parts();
                let bad = parts.iter().find_map(|p| match p {
                    crate::syntax::ast::Part::Text(text) => text
                        .node
                        .char_indices()
                        .find(|&(_, c)| c != '\t' && (c.is_ascii_control()))
                        .map(|(at, c)| (text, at, c)),
                    _ => None,
                });
                let Some((text, at, c)) = bad else { continue };
                let span = if text.span.len() == text.node.len() {
                    let start = text.span.start as usize + at;
                    Span::new(start, start + 1)
                } else {
                    text.span
                };
                out.push(if matches!(c, '\r' | '\n' | '\0') {
                    Diagnostic::error(codes::HEADER_NEWLINE, span, "a header value cannot hold a line break")
                        .label("line break in a header")
                        .help("remove the `\\n`/`\\r`: it would end the header and let the rest be read as another one")
                } else {
                    Diagnostic::error(
                        codes::HEADER_CONTROL,
                        span,
                        format!("a header value cannot hold the control character U+{:04X}", u32::from(c)),
                    )
                    .label("control character in a header")
                    .help("HTTP header values allow tabs but no other control characters; remove it, or send the text in the body")
                });
            }
        }
    }
}

/// A `secret("NAME")` must name an environment variable.
pub(super) fn secret_name(name: &str, span: Span, out: &mut Vec<Diagnostic>) {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        out.push(
            Diagnostic::error(codes::SECRET_INVALID_NAME, span, format!("{name:?} is not a valid secret name"))
                .label("invalid secret name")
                .help("secrets are environment variables: letters, digits and `_`, e.g. `secret(\"ONTRAPORT_API_KEY\")`"),
        );
    }
}
