//! Filters: unknown names and bad arguments, and the `| raw` opt-out.

use super::{walk_merges, walk_webhooks};
use crate::diagnostics::{codes, Diagnostic};
use crate::filters::compile_filter;
use crate::syntax::ast::{Campaign, Json, JsonKind, Member, Merge, Setting};

pub(super) fn check(campaign: &Campaign, out: &mut Vec<Diagnostic>) {
    walk_merges(campaign, &mut |merge| {
        for filter in merge.filters() {
            if let Err(d) = compile_filter(filter) {
                out.push(d);
            }
        }
    });
    // `| raw` only matters where text is escaped: URLs, post data, JSON.
    walk_webhooks(campaign, &mut |w| {
        for s in &w.settings {
            match &s.node {
                Setting::Url(t) | Setting::Post(t) => t.merges().for_each(|m| raw(m, out)),
                Setting::Json(j) => json(j, out),
                _ => {}
            }
        }
    });
}

fn json(j: &Json, out: &mut Vec<Diagnostic>) {
    match &j.kind {
        JsonKind::Object(members) => members
            .iter()
            .filter_map(Member::value)
            .for_each(|v| json(v, out)),
        JsonKind::Array(items) => items.iter().for_each(|v| json(v, out)),
        JsonKind::Str(t) => t.merges().for_each(|m| raw(m, out)),
        JsonKind::Merge(m) => raw(m, out),
        _ => {}
    }
}

fn raw(merge: &Merge, out: &mut Vec<Diagnostic>) {
    for filter in merge.filters().iter().filter(|f| f.name.node == "raw") {
        out.push(
            Diagnostic::warning(
                codes::FILTER_RAW,
                filter.name.span,
                format!("`| raw` sends [{}] without escaping", merge.field.node),
            )
            .label("escaping turned off")
            .help("contact data could then break the URL, post data or JSON; drop `| raw` unless the field holds already-encoded text"),
        );
    }
}
