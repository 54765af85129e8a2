//! Semantic checks and lints over the AST. Each family lives in its own file;
//! every check reports all it finds, so one run shows every problem.

mod credentials;
mod fields;
mod flow;
mod json;
mod merges;
mod post;
mod urls;
mod webhooks;

use crate::diagnostics::Diagnostic;
use crate::syntax::ast::*;

/// The fields contacts are known to have, from `--contacts` or `--schema`.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// Field names.
    pub fields: Vec<String>,
    /// Where they came from, for messages ("the sample contacts").
    pub origin: String,
}

/// Campaigns at least this long (in source bytes) are checked on two
/// threads; below it a thread costs more than it saves.
pub(crate) const PARALLEL_FROM: usize = 256 * 1024;

/// Runs every check; diagnostics come back in source order.
pub fn check(campaign: &Campaign, schema: Option<&Schema>) -> Vec<Diagnostic> {
    // Two halves of about equal cost (measured with callgrind): parsing
    // URLs and splitting post data (with the credential check on its
    // pairs), then everything else.
    let requests = |out: &mut Vec<Diagnostic>| {
        urls::check(campaign, out);
        post::check(campaign, out);
        json::check(campaign, out);
    };
    let steps = |out: &mut Vec<Diagnostic>| {
        credentials::check(campaign, out);
        flow::check(campaign, out);
        webhooks::check(campaign, out);
        merges::check(campaign, out);
        if let Some(schema) = schema {
            fields::check(campaign, schema, out);
        }
    };
    let mut out = Vec::new();
    let parallel = campaign.span.len() >= PARALLEL_FROM
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    if parallel {
        let found = std::thread::scope(|scope| {
            let other = crate::threads::spawn_scoped(scope, || {
                let mut out = Vec::new();
                requests(&mut out);
                out
            });
            steps(&mut out);
            other.map(|other| other.join())
        });
        match found {
            Some(Ok(found)) => out.extend(found),
            // No thread, or a check that panicked (a bug: run here, the
            // panic surfaces as it would have without the thread).
            _ => requests(&mut out),
        }
    } else {
        steps(&mut out);
        requests(&mut out);
    }
    out.sort_by_key(|d| (d.span.start, d.span.end));
    out.dedup();
    out
}

/// Calls `f` on every step, depth first, in source order.
pub(crate) fn walk_steps<'a>(steps: &'a [Step], f: &mut dyn FnMut(&'a Step)) {
    for step in steps {
        f(step);
        match &step.kind {
            StepKind::If(chain) => {
                for b in &chain.branches {
                    walk_steps(&b.body.steps, f);
                }
                if let Some(o) = &chain.otherwise {
                    walk_steps(&o.steps, f);
                }
            }
            StepKind::Split(s) => {
                walk_steps(&s.first.steps, f);
                walk_steps(&s.otherwise.steps, f);
            }
            _ => {}
        }
    }
}

/// Calls `f` on every webhook.
pub(crate) fn walk_webhooks<'a>(campaign: &'a Campaign, f: &mut dyn FnMut(&'a Webhook)) {
    walk_steps(&campaign.steps, &mut |s| {
        if let StepKind::Webhook(w) = &s.kind {
            f(w);
        }
    });
}

/// Calls `f` on every merge expression read anywhere in the campaign.
pub(crate) fn walk_merges<'a>(campaign: &'a Campaign, f: &mut dyn FnMut(&'a Merge)) {
    fn template<'a>(t: &'a Template, f: &mut dyn FnMut(&'a Merge)) {
        t.merges().for_each(f)
    }
    fn operand<'a>(o: &'a Operand, f: &mut dyn FnMut(&'a Merge)) {
        match o {
            Operand::Merge(m) => f(m),
            Operand::Text(t) => t.merges().for_each(f),
            _ => {}
        }
    }
    fn cond<'a>(c: CondRef<'a>, f: &mut dyn FnMut(&'a Merge)) {
        match c.kind() {
            CondKind::And(items) | CondKind::Or(items) => items.for_each(|c| cond(c, f)),
            CondKind::Not(c) => cond(c, f),
            CondKind::Compare { left, right, .. } => {
                operand(left, f);
                operand(right, f);
            }
            CondKind::IsEmpty { operand: o, .. } | CondKind::Truthy(o) => operand(o, f),
            CondKind::HasTag(t) => t.merges().for_each(f),
        }
    }
    fn json<'a>(j: &'a Json, f: &mut dyn FnMut(&'a Merge)) {
        match &j.kind {
            JsonKind::Object(members) => members
                .iter()
                .filter_map(Member::value)
                .for_each(|v| json(v, f)),
            JsonKind::Array(items) => items.iter().for_each(|v| json(v, f)),
            JsonKind::Str(t) => t.merges().for_each(f),
            JsonKind::Merge(m) => f(m),
            _ => {}
        }
    }
    walk_steps(&campaign.steps, &mut |step| match &step.kind {
        StepKind::Webhook(w) => {
            for s in &w.settings {
                match &s.node {
                    Setting::Url(t) | Setting::Post(t) => template(t, f),
                    Setting::Header { value, .. } => {
                        for piece in value {
                            if let HeaderPiece::Text(t) = piece {
                                template(t, f);
                            }
                        }
                    }
                    Setting::Json(j) => json(j, f),
                    _ => {}
                }
            }
        }
        StepKind::Tag { name, .. } => template(name, f),
        StepKind::FieldSet(set) => operand(&set.value, f),
        StepKind::Note(t) => template(t, f),
        StepKind::Wait(Wait::Until(o)) => operand(o, f),
        StepKind::If(chain) => chain.branches.iter().for_each(|b| cond(b.cond.root(), f)),
        StepKind::Goal(g) => cond(g.cond.root(), f),
        _ => {}
    });
}
