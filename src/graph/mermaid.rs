//! `--format mermaid`: a `flowchart` that GitHub and GitLab render in
//! markdown. Labels are quoted, and every character Mermaid or the HTML it
//! renders to could read as syntax is written as an entity code (`#quot;`,
//! `#35;`, `#lt;` ...); line breaks are `<br>`. Node ids get an `n_` prefix
//! (`end` is a Mermaid keyword) and no `-`.

use std::fmt::Write as _;

use crate::graph::model::{EdgeKind, Graph, Kind};

/// The graph as a Mermaid flowchart.
pub fn write(graph: &Graph) -> String {
    let mut out = String::from("flowchart TD\n");
    for node in &graph.nodes {
        let label = text(&node.label_with_counts());
        let id = id(&node.id);
        let _ = match node.kind {
            Kind::Trigger | Kind::Start | Kind::End | Kind::Outside => {
                writeln!(out, "  {id}([\"{label}\"])")
            }
            Kind::If => writeln!(out, "  {id}{{\"{label}\"}}"),
            Kind::Split => writeln!(out, "  {id}{{{{\"{label}\"}}}}"),
            Kind::Goal => writeln!(out, "  {id}[[\"{label}\"]]"),
            Kind::Stop => writeln!(out, "  {id}((\"{label}\"))"),
            Kind::Wait => writeln!(out, "  {id}[/\"{label}\"/]"),
            _ => writeln!(out, "  {id}[\"{label}\"]"),
        };
    }
    for edge in &graph.edges {
        let arrow = match edge.kind {
            EdgeKind::Flow => "-->",
            EdgeKind::Goal => "-.->",
        };
        let (from, to) = (id(&edge.from), id(&edge.to));
        let _ = match edge.label_with_count() {
            Some(label) => writeln!(out, "  {from} {arrow}|\"{}\"| {to}", text(&label)),
            None => writeln!(out, "  {from} {arrow} {to}"),
        };
    }
    out
}

/// A node id Mermaid accepts: `n_` and the graph's id with `-` as `__`.
pub fn id(id: &str) -> String {
    format!("n_{}", id.replace('-', "__"))
}

/// Text for inside a quoted Mermaid label.
pub fn text(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars() {
        match c {
            '\n' => out.push_str("<br>"),
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            ';' => out.push_str("#59;"),
            c => out.push(c),
        }
    }
    out
}
