//! Go to definition and find references, by name: webhooks and goals (one
//! namespace; the first step of a name defines it, a duplicate refers to
//! it), tags (`tag add` defines; `tag remove`, `has tag` and a `tag_added`
//! trigger refer) and fields (`field set` and `capture` define; merges
//! refer).

use crate::check::{walk_merges, walk_steps};
use crate::span::Span;
use crate::syntax::ast::{Campaign, Setting, StepKind, TagOp, Template, Trigger};

/// What a name names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A webhook or goal.
    Step(String),
    /// A tag.
    Tag(String),
    /// A contact field.
    Field(String),
}

/// One place a name is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// What it names.
    pub target: Target,
    /// Where (a name's or tag's string with its quotes, a field's name).
    pub span: Span,
    /// Whether it defines the name.
    pub defines: bool,
}

/// Every named place, in source order.
pub fn occurrences(campaign: &Campaign) -> Vec<Occurrence> {
    let mut out = Vec::new();
    let tag = |t: &Template, defines: bool, out: &mut Vec<Occurrence>| {
        if let Some(name) = t.as_literal() {
            out.push(Occurrence {
                target: Target::Tag(name.trim().to_string()),
                span: t.span,
                defines,
            });
        }
    };
    for trigger in &campaign.triggers {
        if let Trigger::TagAdded(name) = &trigger.node {
            out.push(Occurrence {
                target: Target::Tag(name.node.trim().to_string()),
                span: name.span,
                defines: false,
            });
        }
    }
    let mut named = std::collections::HashSet::new();
    walk_steps(&campaign.steps, &mut |step| match &step.kind {
        StepKind::Webhook(w) => {
            out.push(Occurrence {
                target: Target::Step(w.name.node.to_string()),
                span: w.name.span,
                defines: named.insert(w.name.node.as_str()),
            });
            for s in &w.settings {
                if let Setting::Capture { field, .. } = &s.node {
                    out.push(Occurrence {
                        target: Target::Field(field.node.to_string()),
                        span: field.span,
                        defines: true,
                    });
                }
            }
        }
        StepKind::Goal(g) => {
            out.push(Occurrence {
                target: Target::Step(g.name.node.to_string()),
                span: g.name.span,
                defines: named.insert(g.name.node.as_str()),
            });
            has_tags(g.cond.root(), &mut |t| tag(t, false, &mut out));
        }
        StepKind::Tag { op, name } => tag(name, *op == TagOp::Add, &mut out),
        StepKind::FieldSet(set) => out.push(Occurrence {
            target: Target::Field(set.field.node.to_string()),
            span: set.field.span,
            defines: true,
        }),
        StepKind::If(chain) => {
            for b in &chain.branches {
                has_tags(b.cond.root(), &mut |t| tag(t, false, &mut out));
            }
        }
        _ => {}
    });
    walk_merges(campaign, &mut |m| {
        out.push(Occurrence {
            target: Target::Field(m.field.node.to_string()),
            span: m.field.span,
            defines: false,
        })
    });
    out.sort_by_key(|o| (o.span.start, o.span.end));
    out
}

fn has_tags<'a>(cond: crate::syntax::ast::CondRef<'a>, f: &mut dyn FnMut(&'a Template)) {
    use crate::syntax::ast::CondKind;
    match cond.kind() {
        CondKind::And(items) | CondKind::Or(items) => items.for_each(|c| has_tags(c, f)),
        CondKind::Not(c) => has_tags(c, f),
        CondKind::HasTag(t) => f(t),
        _ => {}
    }
}

/// The named place at byte `offset` (touching its start or end counts).
pub fn at(occurrences: &[Occurrence], offset: usize) -> Option<&Occurrence> {
    let offset = offset as u32;
    occurrences
        .iter()
        .find(|o| o.span.start <= offset && offset <= o.span.end)
}

/// Where `target` is defined, in source order.
pub fn definitions(occurrences: &[Occurrence], target: &Target) -> Vec<Span> {
    occurrences
        .iter()
        .filter(|o| o.defines && &o.target == target)
        .map(|o| o.span)
        .collect()
}

/// Every place `target` is written; definitions only with `declarations`.
pub fn references(occurrences: &[Occurrence], target: &Target, declarations: bool) -> Vec<Span> {
    occurrences
        .iter()
        .filter(|o| &o.target == target && (declarations || !o.defines))
        .map(|o| o.span)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tags_and_fields() {
        let source = r#"campaign "C" {
    trigger tag_added "Lead"
    webhook "Sync" { url "https://x.example/[Id]" capture [Id] = json "/id" }
    tag add "Hot"
    if has tag "Hot" { note "[Id]" }
    goal "Done" when has tag "Hot"
}"#;
        let campaign = crate::syntax::parser::parse(source).unwrap();
        let all = occurrences(&campaign);
        let offset = source.find("has tag \"Hot\" {").unwrap() + 9;
        let here = at(&all, offset).unwrap();
        assert_eq!(here.target, Target::Tag("Hot".into()));
        let defs = definitions(&all, &here.target);
        assert_eq!(defs.len(), 1);
        assert_eq!(&source[defs[0].range()], "\"Hot\"");
        assert_eq!(references(&all, &here.target, true).len(), 3);
        let id = at(&all, source.find("[Id]\"").unwrap() + 1).unwrap();
        assert_eq!(id.target, Target::Field("Id".into()));
        let defs = definitions(&all, &id.target);
        assert_eq!(
            defs[0].start as usize,
            source.find("capture [Id]").unwrap() + 9
        );
        assert_eq!(references(&all, &id.target, false).len(), 2);
    }
}
