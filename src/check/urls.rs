//! URLs: valid, http(s), and never a host chosen by contact data.

use super::walk_webhooks;
use crate::diagnostics::Diagnostic;
use crate::syntax::ast::{Campaign, Part, Setting, Template};

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

fn check_url(url: &Template, dynamic_host: bool, out: &mut Vec<Diagnostic>) {
    // The literal text up to the end of the authority decides where the
    // request goes; a merge before that point lets contact data choose.
    let mut probe = String::new();
    let mut authority_done = false;
    let mut scheme_done = false;
    for part in &url.parts {
        match part {
            Part::Text(t) => {
                if let Some(bad) = t.node.find(char::is_whitespace) {
                    let at = if t.span.len() == t.node.len() {
                        crate::syntax::span::Span::new(
                            t.span.start as usize + bad,
                            t.span.start as usize + bad + 1,
                        )
                    } else {
                        t.span
                    };
                    out.push(
                        Diagnostic::error(
                            "campaign::url::invalid",
                            at,
                            "a URL cannot contain spaces",
                        )
                        .label("space in the URL")
                        .help("write a space as `%20`; merged fields are encoded for you"),
                    );
                    return;
                }
                probe.push_str(&t.node);
                if !scheme_done {
                    scheme_done = probe.contains("://");
                }
                if scheme_done && !authority_done {
                    let after = &probe[probe.find("://").map_or(0, |i| i + 3)..];
                    authority_done = after.contains(['/', '?', '#']);
                }
            }
            Part::Merge(m) => {
                if !scheme_done {
                    out.push(
                        Diagnostic::error(
                            "campaign::url::merge_in_authority",
                            m.span,
                            "contact data cannot choose the URL's scheme",
                        )
                        .label("merge field in the scheme")
                        .help("start the URL with fixed text: `https://host/...`"),
                    );
                    return;
                }
                if !authority_done && !dynamic_host {
                    out.push(
                        Diagnostic::error(
                            "campaign::url::merge_in_authority",
                            m.span,
                            "contact data cannot choose the host or port a request goes to",
                        )
                        .label("merge field in the host")
                        .help("write the host as fixed text and merge fields into the path or query; if the host truly comes from the contact, add `dynamic host` to the webhook"),
                    );
                    return;
                }
                // A placeholder that is valid in any position after the host.
                probe.push_str(if authority_done { "x" } else { "example.com" });
            }
        }
    }
    if probe.is_empty() {
        out.push(
            Diagnostic::error("campaign::url::invalid", url.span, "the URL is empty")
                .label("empty URL")
                .help("e.g. `url \"https://crm.example.com/contacts\"`"),
        );
        return;
    }
    match url::Url::parse(&probe) {
        Err(e) => out.push(
            Diagnostic::error(
                "campaign::url::invalid",
                url.span,
                format!("this URL cannot be valid: {e}"),
            )
            .label("invalid URL")
            .help(
                "write a full address such as `https://crm.example.com/contacts?src=[Lead Source]`",
            ),
        ),
        Ok(parsed) => match parsed.scheme() {
            "https" => {}
            "http" => {
                let start = url.span.start as usize + 1;
                out.push(
                    Diagnostic::warning(
                        "campaign::url::insecure",
                        crate::syntax::span::Span::new(start, start + 4),
                        "this webhook is sent over plain http",
                    )
                    .label("unencrypted")
                    .help("contact data and keys travel unencrypted; use `https://` unless the receiver is on your own network"),
                );
            }
            other => out.push(
                Diagnostic::error(
                    "campaign::url::scheme",
                    url.span,
                    format!("webhooks are sent over http or https, not `{other}`"),
                )
                .label("unsupported scheme")
                .help("start the URL with `https://`"),
            ),
        },
    }
    if let Ok(parsed) = url::Url::parse(&probe) {
        if parsed.host_str().is_none_or(str::is_empty)
            && matches!(parsed.scheme(), "http" | "https")
        {
            out.push(
                Diagnostic::error("campaign::url::invalid", url.span, "this URL has no host")
                    .label("no host")
                    .help("e.g. `https://crm.example.com/contacts`"),
            );
        }
    }
}
