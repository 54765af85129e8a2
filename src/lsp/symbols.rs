//! The campaign's outline: webhooks, goals, waits, and the `if` and
//! `split` blocks that hold them, nested as written.

use crate::span::Span;
use crate::syntax::ast::{Block, Campaign, Setting, Step, StepKind, Wait};

/// What an outline entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    /// The campaign block.
    Campaign,
    /// A webhook.
    Webhook,
    /// A goal.
    Goal,
    /// A wait.
    Wait,
    /// An `if` chain, or one of its branches.
    If,
    /// A split, or one of its sides.
    Split,
}

/// One outline entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// What the outline shows.
    pub name: String,
    /// A second line: a webhook's method and URL.
    pub detail: Option<String>,
    /// What it is.
    pub kind: SymbolKind,
    /// The whole construct.
    pub span: Span,
    /// What to select when it is picked (a name, a keyword).
    pub selection: Span,
    /// What it holds.
    pub children: Vec<Symbol>,
}

/// Longest condition text shown in an outline entry, in characters.
const COND_CHARS: usize = 60;

/// `text` on one line, spaces collapsed, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

/// The outline of a campaign: one entry for the campaign, holding the rest.
pub fn outline(source: &str, campaign: &Campaign) -> Vec<Symbol> {
    let name_span = campaign.name.span;
    vec![Symbol {
        name: campaign.name.node.to_string(),
        detail: Some("campaign".into()),
        kind: SymbolKind::Campaign,
        span: campaign.span,
        selection: name_span,
        children: steps(source, &campaign.steps),
    }]
}

fn steps(source: &str, steps: &[Step]) -> Vec<Symbol> {
    steps.iter().filter_map(|s| step(source, s)).collect()
}

fn block(source: &str, name: String, kind: SymbolKind, from: Span, body: &Block) -> Symbol {
    Symbol {
        name,
        detail: None,
        kind,
        span: from.to(body.span),
        selection: from,
        children: steps(source, &body.steps),
    }
}

fn step(source: &str, step: &Step) -> Option<Symbol> {
    let text = |span: Span| source.get(span.range()).unwrap_or("");
    match &step.kind {
        StepKind::Webhook(w) => {
            let method = w
                .settings
                .iter()
                .find_map(|s| match &s.node {
                    Setting::Method(m) => Some(m.as_str()),
                    _ => None,
                })
                .unwrap_or("POST");
            let url = w.url().map(|u| text(u.span).trim_matches('"').to_string());
            Some(Symbol {
                name: w.name.node.to_string(),
                detail: Some(match url {
                    Some(url) => format!("{method} {url}"),
                    None => method.to_string(),
                }),
                kind: SymbolKind::Webhook,
                span: step.span,
                selection: w.name.span,
                children: Vec::new(),
            })
        }
        StepKind::Goal(g) => Some(Symbol {
            name: g.name.node.to_string(),
            detail: Some(format!(
                "when {}",
                one_line(text(g.cond.span()), COND_CHARS)
            )),
            kind: SymbolKind::Goal,
            span: step.span,
            selection: g.name.span,
            children: Vec::new(),
        }),
        StepKind::Wait(wait) => {
            let what = match wait {
                Wait::For(d) => d.span,
                Wait::Until(o) => o.span(),
            };
            Some(Symbol {
                name: one_line(text(step.span), COND_CHARS),
                detail: None,
                kind: SymbolKind::Wait,
                span: step.span,
                selection: step.keyword.to(what),
                children: Vec::new(),
            })
        }
        StepKind::If(chain) => {
            let mut children = Vec::new();
            for (i, b) in chain.branches.iter().enumerate() {
                let word = if i == 0 { "if" } else { "else if" };
                let name = format!("{word} {}", one_line(text(b.cond.span()), COND_CHARS));
                children.push(block(source, name, SymbolKind::If, b.cond.span(), &b.body));
            }
            if let Some(o) = &chain.otherwise {
                children.push(block(source, "else".into(), SymbolKind::If, o.span, o));
            }
            let first = chain
                .branches
                .first()
                .map_or(step.keyword, |b| b.cond.span());
            Some(Symbol {
                name: format!("if {}", one_line(text(first), COND_CHARS)),
                detail: None,
                kind: SymbolKind::If,
                span: step.span,
                selection: step.keyword,
                children,
            })
        }
        StepKind::Split(s) => {
            let percent = s.percent.node;
            Some(Symbol {
                name: format!("split {percent}%"),
                detail: None,
                kind: SymbolKind::Split,
                span: step.span,
                selection: step.keyword.to(s.percent.span),
                children: vec![
                    block(
                        source,
                        format!("{percent}%"),
                        SymbolKind::Split,
                        s.first.span,
                        &s.first,
                    ),
                    block(
                        source,
                        "else".into(),
                        SymbolKind::Split,
                        s.otherwise.span,
                        &s.otherwise,
                    ),
                ],
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outline_nests_blocks() {
        let source = "campaign \"C\" {\n    webhook \"A\" { method PUT url \"https://x.example/\" }\n    if [Score | number] > 5 {\n        wait 2 days\n    } else {\n        webhook \"B\" { url \"https://y.example/\" }\n    }\n    goal \"G\" when has tag \"T\"\n}\n";
        let campaign = crate::syntax::parser::parse(source).unwrap();
        let outline = outline(source, &campaign);
        let top = &outline[0].children;
        let names: Vec<&str> = top.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["A", "if [Score | number] > 5", "G"]);
        assert_eq!(top[0].detail.as_deref(), Some("PUT https://x.example/"));
        let branches: Vec<&str> = top[1].children.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(branches, ["if [Score | number] > 5", "else"]);
        assert_eq!(top[1].children[0].children[0].name, "wait 2 days");
        assert_eq!(top[1].children[1].children[0].name, "B");
        assert_eq!(top[2].detail.as_deref(), Some("when has tag \"T\""));
    }
}
