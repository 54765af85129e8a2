//! URLs: valid, http(s), and never a host chosen by contact data.
//!
//! Where a merge lands is decided by the URL parser the sender uses
//! ([`crate::url_template`]), never by scanning the text here.

use super::walk_webhooks;
use crate::diagnostics::{codes, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{Campaign, Part, Setting, Template};
use crate::url_template::{self, Component, TemplateError};

pub(super) fn check(campaign: &Campaign, out: &mut Vec<Diagnostic>) {
    walk_webhooks(campaign, &mut |w| {
        let dynamic = w
            .settings
            .iter()
            .any(|s| matches!(s.node, Setting::DynamicHost));
        for s in &w.settings {
            if let Setting::Url(url) = &s.node {
                check_url(url, dynamic, out);
            }
        }
    });
}

/// The exact span of the character at byte `at` of a text part: exact when
/// the part was written without escapes, or when it is a control character
/// (the template lexer keeps each of those a part of its own).
fn char_span(
    t: &crate::span::Spanned<crate::syntax::ast::ShortString>,
    at: usize,
    c: char,
) -> Span {
    if t.span.len() == t.node.len() {
        let start = t.span.start as usize + at;
        Span::new(start, start + c.len_utf8())
    } else {
        t.span
    }
}

/// Literal text a URL may not hold: control characters (a NUL, a tab, a
/// DEL...) and spaces. Reports the first and says whether there was one.
fn literal_text(url: &Template, out: &mut Vec<Diagnostic>) -> bool {
    for part in url.parts().iter() {
        let Part::Text(t) = part else { continue };
        let Some((at, c)) = t
            .node
            .char_indices()
            .find(|(_, c)| c.is_control() || c.is_whitespace())
        else {
            continue;
        };
        let span = char_span(t, at, c);
        out.push(if c.is_control() {
            Diagnostic::error(
                codes::URL_CONTROL,
                span,
                format!("a URL cannot contain the control character U+{:04X}", u32::from(c)),
            )
            .label("control character in the URL")
            .help("remove it; URL parsers drop or encode control characters, so the request would not go where the text says")
        } else {
            Diagnostic::error(codes::URL_INVALID, span, "a URL cannot contain spaces")
                .label("space in the URL")
                .help("write a space as `%20`; merged fields are encoded for you")
        });
        return true;
    }
    false
}

fn check_url(url: &Template, dynamic_host: bool, out: &mut Vec<Diagnostic>) {
    if literal_text(url, out) {
        return;
    }
    if url.parts().is_empty() {
        out.push(
            Diagnostic::error(codes::URL_INVALID, url.span, "the URL is empty")
                .label("empty URL")
                .help("e.g. `url \"https://crm.example.com/contacts\"`"),
        );
        return;
    }
    let layout = match url_template::analyse(&url_template::pieces(url)) {
        Ok(layout) => layout,
        Err(TemplateError::TooManyBeforePath) => {
            let first = url.merges().next().map_or(url.span, |m| m.span());
            out.push(if dynamic_host {
                Diagnostic::error(
                    codes::URL_INVALID,
                    url.span,
                    format!(
                        "a `dynamic host` URL may merge at most {} fields before its path",
                        url_template::MAX_BEFORE_PATH
                    ),
                )
                .label("too many merge fields in the host")
                .help("merge the whole host from one field, e.g. `https://[Host]/path`")
            } else {
                merge_before_path(first, Component::Host, false)
            });
            return;
        }
        Err(TemplateError::Invalid(e)) => {
            out.push(
                Diagnostic::error(
                    codes::URL_INVALID,
                    url.span,
                    format!("this URL cannot be valid: {e}"),
                )
                .label("invalid URL")
                .help(
                    "write a full address such as `https://crm.example.com/contacts?src=[Lead Source]`",
                ),
            );
            return;
        }
    };
    let mut scheme_merged = false;
    for (merge, component) in url.merges().zip(&layout.before_path) {
        scheme_merged |= *component == Component::Scheme;
        let allowed = dynamic_host && matches!(component, Component::Host | Component::Port);
        if !allowed {
            out.push(merge_before_path(merge.span(), *component, dynamic_host));
        }
    }
    if scheme_merged {
        return;
    }
    match layout.scheme.as_str() {
        "https" => {}
        "http" => {
            let start = url.span.start as usize + 1;
            out.push(
                Diagnostic::warning(
                    codes::URL_INSECURE,
                    Span::new(start, start + 4),
                    "this webhook is sent over plain http",
                )
                .label("unencrypted")
                .help("contact data and keys travel unencrypted; use `https://` unless the receiver is on your own network")
                .with_fix("use `https://`", Span::new(start, start + 4), "https"),
            );
        }
        other => out.push(
            Diagnostic::error(
                codes::URL_SCHEME,
                url.span,
                format!("webhooks are sent over http or https, not `{other}`"),
            )
            .label("unsupported scheme")
            .help("start the URL with `https://`"),
        ),
    }
}

/// A merge the URL parser reads as part of the scheme
/// (`campaign::url::merge_in_scheme`), or of the authority: user name,
/// host or port (`campaign::url::merge_in_authority`).
fn merge_before_path(span: Span, component: Component, dynamic_host: bool) -> Diagnostic {
    let code = codes::URL_MERGE_IN_AUTHORITY;
    match component {
        Component::Scheme => Diagnostic::error(
            codes::URL_MERGE_IN_SCHEME,
            span,
            "contact data cannot choose the URL's scheme",
        )
            .label("merge field in the scheme")
            .help("start the URL with fixed text: `https://host/...`"),
        Component::Userinfo => Diagnostic::error(
            code,
            span,
            "contact data cannot choose the URL's user name or password",
        )
        .label("merge field before `@`: the user name or password")
        .help("send credentials in a header instead, e.g. `header \"Authorization\" = secret(\"API_TOKEN\")`"),
        Component::Host | Component::Port => {
            let (what, label) = if component == Component::Port {
                ("port", "merge field in the port")
            } else {
                ("host", "merge field in the host")
            };
            let help = if dynamic_host {
                "a URL parser reads everything after `scheme:` up to the first `/`, `\\`, `?` or `#` as the host (extra slashes are skipped)".to_string()
            } else {
                "a URL parser reads everything after `scheme:` up to the first `/`, `\\`, `?` or `#` as the host (extra slashes are skipped); write the host as fixed text and merge fields into the path or query, or, if the host truly comes from the contact, add `dynamic host` to the webhook".to_string()
            };
            Diagnostic::error(
                code,
                span,
                format!("contact data cannot choose the {what} a request goes to"),
            )
            .label(label)
            .help(help)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnostics::codes;

    /// The code names the part a merge lands in; the scheme is not part of
    /// the authority, so it has a code of its own.
    #[test]
    fn a_merge_in_the_scheme_is_not_reported_as_one_in_the_authority() {
        let codes_for = |url: &str| -> Vec<&str> {
            let source = format!(
                "campaign \"T\" {{\n    webhook \"W\" {{\n        url \"{url}\"\n    }}\n}}\n"
            );
            crate::diagnose(&source, None)
                .iter()
                .map(|d| d.code)
                .collect()
        };
        for url in ["[S]://h.example/x", "ht[T]tp://h.example/x"] {
            assert_eq!(codes_for(url), [codes::URL_MERGE_IN_SCHEME], "{url}");
        }
        for url in [
            "https://[H]/x",
            "https://[U]@h.example/",
            "https://h.example:[P]/",
        ] {
            assert_eq!(codes_for(url), [codes::URL_MERGE_IN_AUTHORITY], "{url}");
        }
    }
}
