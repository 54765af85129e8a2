//! `--format dot`: Graphviz's language, for people who have it
//! (`dot -Tpng`). Every label is a quoted string with `\`, `"` and line
//! breaks escaped, so no step name can end one early.

use std::fmt::Write as _;

use crate::graph::model::{EdgeKind, Graph, Kind};

/// The graph in DOT.
pub fn write(graph: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&graph.campaign));
    out.push_str("  graph [rankdir=TB, fontname=\"Helvetica\"];\n");
    out.push_str("  node [shape=box, style=\"rounded\", fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for node in &graph.nodes {
        let shape = match node.kind {
            Kind::Trigger | Kind::Start | Kind::End | Kind::Outside => "shape=oval",
            Kind::If | Kind::Split => "shape=diamond",
            Kind::Wait => "shape=box, style=\"rounded,dashed\"",
            Kind::Goal => "shape=doubleoctagon",
            Kind::Stop => "shape=octagon",
            Kind::Block | Kind::Section => "shape=box3d",
            _ => "shape=box, style=\"rounded\"",
        };
        let _ = writeln!(
            out,
            "  {} [label={}, {shape}, tooltip={}];",
            quote(&node.id),
            quote(&node.label_with_counts()),
            quote(&format!(
                "line {}, column {}",
                node.span.line, node.span.column
            )),
        );
    }
    for edge in &graph.edges {
        let mut attrs = Vec::new();
        if let Some(label) = edge.label_with_count() {
            attrs.push(format!("label={}", quote(&label)));
        }
        if edge.kind == EdgeKind::Goal {
            attrs.push("style=dashed".into());
            attrs.push("constraint=false".into());
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(
            out,
            "  {} -> {}{attrs};",
            quote(&edge.from),
            quote(&edge.to)
        );
    }
    out.push_str("}\n");
    out
}

/// A DOT double-quoted string: `\` and `"` escaped (a `\` would otherwise
/// start one of DOT's label escapes), line breaks as `\n`.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
