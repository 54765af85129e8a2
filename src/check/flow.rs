//! Control flow: unreachable steps, goal placement, duplicate names.

use std::collections::HashMap;

use super::walk_steps;
use super::webhooks::secret_name;
use crate::diagnostics::{codes, Diagnostic};
use crate::filters::parse_date;
use crate::span::{Span, Spanned};
use crate::syntax::ast::{
    Block, Campaign, Operand, ShortString, Step, StepKind, Trigger, Verify, Wait,
};

pub(super) fn check(campaign: &Campaign, out: &mut Vec<Diagnostic>) {
    unreachable(&campaign.steps, out);
    walk_steps(&campaign.steps, &mut |step| match &step.kind {
        StepKind::If(chain) => {
            for b in &chain.branches {
                nested_goals(&b.body, out);
                unreachable(&b.body.steps, out);
            }
            if let Some(o) = &chain.otherwise {
                nested_goals(o, out);
                unreachable(&o.steps, out);
            }
        }
        StepKind::Split(s) => {
            for block in [&s.first, &s.otherwise] {
                nested_goals(block, out);
                unreachable(&block.steps, out);
            }
        }
        _ => {}
    });
    names(campaign, out);
    triggers(campaign, out);
    walk_steps(&campaign.steps, &mut |step| {
        if let StepKind::Wait(Wait::Until(operand)) = &step.kind {
            let Operand::Text(t) = &**operand else {
                return;
            };
            if let Some(text) = t.as_literal() {
                if parse_date(&text).is_none() {
                    out.push(
                        Diagnostic::error(codes::WAIT_DATE, t.span, format!("{text:?} is not a date"))
                            .label("not a date")
                            .help("write `wait until 2026-12-01T09:00:00Z`, a date like \"2026-12-01\", or a date field like `[Renewal Date]`"),
                    );
                }
            }
        }
    });
}

/// Whether a step always ends the contact's run.
fn always_stops(step: &Step) -> bool {
    let block_stops = |b: &Block| b.steps.iter().any(always_stops);
    match &step.kind {
        StepKind::Stop => true,
        StepKind::If(chain) => {
            chain.otherwise.as_ref().is_some_and(block_stops)
                && chain.branches.iter().all(|b| block_stops(&b.body))
        }
        StepKind::Split(s) => block_stops(&s.first) && block_stops(&s.otherwise),
        _ => false,
    }
}

fn unreachable(steps: &[Step], out: &mut Vec<Diagnostic>) {
    if let Some(i) = steps.iter().position(always_stops) {
        if let Some(next) = steps.get(i + 1) {
            // A goal after a stop is still reachable: contacts jump to goals.
            if matches!(next.kind, StepKind::Goal(_)) {
                return;
            }
            out.push(
                Diagnostic::warning(
                    codes::FLOW_UNREACHABLE,
                    next.keyword,
                    "this step can never run",
                )
                .label("unreachable")
                .help("every path before it ends in `stop`; remove it or move it above the `stop`"),
            );
        }
    }
}

fn nested_goals(block: &Block, out: &mut Vec<Diagnostic>) {
    for step in &block.steps {
        if let StepKind::Goal(_) = step.kind {
            out.push(
                Diagnostic::error(codes::GOAL_NESTED, step.keyword, "a goal must stand at the top level of the campaign")
                    .label("goal inside a block")
                    .help("contacts jump forward to goals, so a goal cannot sit inside `if` or `split`; move it out of the block"),
            );
        }
    }
}

fn names(campaign: &Campaign, out: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    walk_steps(&campaign.steps, &mut |step| {
        let (name, what) = match &step.kind {
            StepKind::Webhook(w) => (&w.name, "webhook"),
            StepKind::Goal(g) => (&g.name, "goal"),
            _ => return,
        };
        if name.node.trim().is_empty() {
            out.push(
                Diagnostic::error(codes::STEP_EMPTY_NAME, name.span, format!("this {what} has no name"))
                    .label("empty name")
                    .help("names identify steps in run output and journals, e.g. `webhook \"Create CRM contact\" { ... }`"),
            );
            return;
        }
        if let Some(&first) = seen.get(name.node.as_str()) {
            out.push(
                Diagnostic::error(
                    codes::STEP_DUPLICATE_NAME,
                    name.span,
                    format!("another step is already named {:?}", name.node),
                )
                .label("duplicate name")
                .help("names identify steps in run output, idempotency keys and journals; give each step its own name")
                .with_related(first, "first named here"),
            );
        } else {
            seen.insert(name.node.as_str(), name.span);
        }
    });
}

fn triggers(campaign: &Campaign, out: &mut Vec<Diagnostic>) {
    let mut paths: HashMap<&str, Span> = HashMap::new();
    for t in &campaign.triggers {
        match &t.node {
            Trigger::TagAdded(tag) if tag.node.trim().is_empty() => out.push(
                Diagnostic::error(
                    codes::TRIGGER_EMPTY_TAG,
                    tag.span,
                    "this trigger names no tag",
                )
                .label("empty tag")
                .help("write the tag that starts the campaign, e.g. `trigger tag_added \"Lead\"`"),
            ),
            Trigger::WebhookReceived { path, verify } => {
                if !path.node.starts_with('/') {
                    out.push(
                        Diagnostic::error(
                            codes::TRIGGER_PATH,
                            path.span,
                            "a webhook trigger's path must start with `/`",
                        )
                        .label("not a path")
                        .help("e.g. `trigger webhook_received \"/hooks/signup\" verify standard secret(\"SIGNUP_SECRET\")`"),
                    );
                } else if let Some(&first) = paths.get(path.node.as_str()) {
                    out.push(
                        Diagnostic::error(
                            codes::TRIGGER_DUPLICATE_PATH,
                            path.span,
                            format!("another trigger of this campaign already receives {:?}", path.node),
                        )
                        .label("duplicate path")
                        .help("a path starts one campaign once: remove this trigger, or give it its own path")
                        .with_related(first, "first received here"),
                    );
                } else {
                    paths.insert(&path.node, path.span);
                }
                verification(t.span, path, verify.as_ref(), out);
            }
            _ => {}
        }
    }
}

/// A webhook trigger must say how requests are verified; `none` is allowed
/// but warned about, since anyone who finds the URL can enrol contacts.
fn verification(
    trigger: Span,
    path: &Spanned<ShortString>,
    verify: Option<&Spanned<Verify>>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(verify) = verify else {
        out.push(
            Diagnostic::error(
                codes::TRIGGER_UNVERIFIED,
                trigger,
                "this webhook trigger does not say how requests are verified",
            )
            .label("no `verify` clause")
            .help(format!(
                "add how the sender signs its requests, e.g. `trigger webhook_received {:?} verify standard secret(\"SIGNUP_SECRET\")` (or `verify github secret(\"...\")`); write `verify none` to accept unsigned requests on purpose",
                path.node
            )),
        );
        return;
    };
    match &verify.node {
        Verify::Standard(secret) | Verify::Github(secret) => {
            secret_name(&secret.node, secret.span, out);
        }
        Verify::None => out.push(
            Diagnostic::warning(
                codes::TRIGGER_VERIFY_NONE,
                verify.span,
                "anyone who knows this URL can enrol contacts",
            )
            .label("requests are not verified")
            .help("have the sender sign its requests and write `verify standard secret(\"NAME\")` or `verify github secret(\"NAME\")`"),
        ),
    }
}
