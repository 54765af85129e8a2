//! Post data: duplicate labels, pairs without `=`, empty pairs, and (through
//! [`super::credentials::post_pair`]) credentials written as literal values.

use super::walk_webhooks;
use crate::diagnostics::{codes, Diagnostic};
use crate::syntax::ast::{Campaign, Setting};
use crate::syntax::post::split_pairs;

pub(super) fn check(campaign: &Campaign, out: &mut Vec<Diagnostic>) {
    walk_webhooks(campaign, &mut |w| {
        for s in &w.settings {
            let Setting::Post(post) = &s.node else {
                continue;
            };
            let pairs = split_pairs(post);
            let mut labels: Vec<String> = Vec::new();
            for pair in &pairs {
                super::credentials::post_pair(pair, out);
                if pair.is_empty() {
                    out.push(
                        Diagnostic::warning(
                            codes::POST_EMPTY_PAIR,
                            pair.span,
                            "empty pair in post data",
                        )
                        .label("nothing between these `&`")
                        .help("remove the extra `&`; empty pairs are left out of the body"),
                    );
                    continue;
                }
                if pair.value.is_none() {
                    out.push(
                        Diagnostic::warning(codes::POST_MISSING_EQUALS, pair.span, "this pair has no `=`")
                            .label("label without a value")
                            .help("post data is `label=value`; it is sent as `label=` with an empty value"),
                    );
                }
                if pair.label.is_empty() {
                    out.push(
                        Diagnostic::warning(
                            codes::POST_EMPTY_LABEL,
                            pair.span,
                            "this value has no label",
                        )
                        .label("`=` with no label before it")
                        .help("the receiver finds data by its label: write `label=value`"),
                    );
                }
                if let Some(label) = pair.literal_label() {
                    // `tags[]=a&tags[]=b` is how forms send lists.
                    if labels.contains(&label) && !label.ends_with("[]") {
                        out.push(
                            Diagnostic::error(
                                codes::POST_DUPLICATE_LABEL,
                                pair.label_span(),
                                format!("label `{label}` appears twice in this post data"),
                            )
                            .label("duplicate label")
                            .help("most receivers keep only one of the values; remove one, or name a list `label[]`"),
                        );
                    }
                    labels.push(label);
                }
            }
        }
    });
}
