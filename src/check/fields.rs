//! Merge fields that the contacts do not have.

use std::collections::{HashMap, HashSet};

use super::{walk_merges, walk_steps, Schema};
use crate::diagnostics::{codes, did_you_mean, Diagnostic};
use crate::syntax::ast::{Campaign, Setting, StepKind};

/// Fields every contact has, whatever the schema says.
const BUILT_IN: &[&str] = &["Contact ID", "Tags"];

/// Known names compared with unknown ones over a whole check before
/// did-you-mean gives up: a typo among a few hundred fields costs nothing,
/// and thousands of unknown names among thousands of fields cannot make
/// `check` quadratic (past it, the help lists the schema's fields).
const SUGGESTION_BUDGET: usize = 250_000;

pub(super) fn check(campaign: &Campaign, schema: &Schema, out: &mut Vec<Diagnostic>) {
    let mut known: Vec<&str> = schema.fields.iter().map(String::as_str).collect();
    known.extend(BUILT_IN);
    // Fields the campaign itself writes are known from then on.
    walk_steps(&campaign.steps, &mut |step| match &step.kind {
        StepKind::FieldSet(set) => known.push(&set.field.node),
        StepKind::Webhook(w) => {
            for s in &w.settings {
                if let Setting::Capture { field, .. } = &s.node {
                    known.push(&field.node);
                }
            }
        }
        _ => {}
    });
    let known_set: HashSet<&str> = known.iter().copied().collect();
    let mut suggested: HashMap<&str, Option<&str>> = HashMap::new();
    let mut budget = SUGGESTION_BUDGET;
    walk_merges(campaign, &mut |merge| {
        let name = merge.field.node.as_str();
        if known_set.contains(name) {
            return;
        }
        let suggestion = *suggested.entry(name).or_insert_with(|| {
            budget = budget.checked_sub(known.len())?;
            did_you_mean(name, known.iter().copied())
        });
        let help = match suggestion {
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
        let mut d = Diagnostic::error(
            codes::MERGE_UNKNOWN_FIELD,
            merge.field.span,
            format!("no field named `{name}` in {}", schema.origin),
        )
        .label("unknown field")
        .help(help);
        if let Some(m) = suggestion {
            d = d.with_fix(format!("change to `[{m}]`"), merge.field.span, m);
        }
        out.push(d);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thousands of distinct typos among thousands of fields: the first get
    /// a did-you-mean, then the budget runs out and the help lists the
    /// schema instead, so the work stays bounded (linear in the merges).
    #[test]
    fn did_you_mean_has_a_budget() {
        let n = 2_000;
        let fields: Vec<String> = (0..n).map(|i| format!("Field {i:05}")).collect();
        let notes: String = (0..n)
            .map(|i| format!("note \"[FieId {i:05}]\"\n"))
            .collect();
        let source = format!("campaign \"B\" {{\n{notes}}}\n");
        let campaign = crate::syntax::parser::parse(&source).unwrap();
        let schema = Schema {
            fields,
            origin: "the schema".into(),
        };
        let mut out = Vec::new();
        check(&campaign, &schema, &mut out);
        assert_eq!(out.len(), n);
        let suggested = out
            .iter()
            .filter(|d| d.help.as_deref().unwrap_or("").starts_with("did you mean"))
            .count();
        let per_name = n + BUILT_IN.len();
        assert_eq!(suggested, SUGGESTION_BUDGET / per_name);
        assert!(out[0].help.as_deref() == Some("did you mean `[Field 00000]`?"));
        assert!(out[n - 1]
            .help
            .as_deref()
            .unwrap()
            .starts_with("the schema has: Field 00000"));
    }
}
