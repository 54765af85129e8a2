//! Filters: unknown names and bad arguments, and the `| raw` opt-out.

use super::walk_merges;
use crate::diagnostics::Diagnostic;
use crate::syntax::ast::Campaign;
use crate::vm::filters::compile_filter;

pub(super) fn check(campaign: &Campaign, out: &mut Vec<Diagnostic>) {
    walk_merges(campaign, &mut |merge| {
        for filter in &merge.filters {
            if let Err(d) = compile_filter(filter) {
                out.push(d);
            } else if filter.name.node == "raw" {
                out.push(
                    Diagnostic::warning(
                        "campaign::filter::raw",
                        filter.name.span,
                        format!("`| raw` sends [{}] without escaping", merge.field.node),
                    )
                    .label("escaping turned off")
                    .help("contact data could then break the URL, post data or JSON; drop `| raw` unless the field holds already-encoded text"),
                );
            }
        }
    });
}
