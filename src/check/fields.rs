//! Merge fields that the contacts do not have.

use super::{walk_merges, walk_steps, Schema};
use crate::diagnostics::{did_you_mean, Diagnostic};
use crate::syntax::ast::{Campaign, Setting, StepKind};

/// Fields every contact has, whatever the schema says.
const BUILT_IN: &[&str] = &["Contact ID", "Tags"];

pub(super) fn check(campaign: &Campaign, schema: &Schema, out: &mut Vec<Diagnostic>) {
    let mut known: Vec<&str> = schema.fields.iter().map(String::as_str).collect();
    known.extend(BUILT_IN);
    // Fields the campaign itself writes are known from then on.
    walk_steps(&campaign.steps, &mut |step| match &step.kind {
        StepKind::FieldSet { field, .. } => known.push(&field.node),
        StepKind::Webhook(w) => {
            for s in &w.settings {
                if let Setting::Capture { field, .. } = &s.node {
                    known.push(&field.node);
                }
            }
        }
        _ => {}
    });
    walk_merges(campaign, &mut |merge| {
        let name = merge.field.node.as_str();
        if known.contains(&name) {
            return;
        }
        let help = match did_you_mean(name, known.iter().copied()) {
            Some(m) => format!("did you mean `[{m}]`?"),
            None => {
                let mut list: Vec<&str> =
                    schema.fields.iter().map(String::as_str).take(12).collect();
                if schema.fields.len() > 12 {
                    list.push("...");
                }
                format!("{} has: {}", schema.origin, list.join(", "))
            }
        };
        out.push(
            Diagnostic::error(
                "campaign::merge::unknown_field",
                merge.field.span,
                format!("no field named `{name}` in {}", schema.origin),
            )
            .label("unknown field")
            .help(help),
        );
    });
}
