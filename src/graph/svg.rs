//! `--format svg` (the default): the picture, laid out by [`super::layout`],
//! with no Graphviz. Each node is a `<g class="node KIND">` with
//! `data-id` and its span (`data-line`, `data-column`, `data-start`,
//! `data-end`), each edge a `<g class="edge flow|goal">` with `data-from`
//! and `data-to`, and every count a `<text class="count">` an editor or the
//! live map can find by its node's id. All text is XML-escaped.

use std::fmt::Write as _;

use crate::graph::layout::{self, LINE_HEIGHT};
use crate::graph::model::{EdgeKind, Graph, Kind};

const STYLE: &str = "\
.node rect, .node polygon { fill: #f7f9fc; stroke: #4a5a70; stroke-width: 1.2; }
.node.trigger rect, .node.start rect, .node.end rect, .node.outside rect { fill: #eef4ea; stroke: #5b7a4a; }
.node.webhook rect { fill: #eaf1fb; }
.node.if polygon, .node.split polygon { fill: #fff6e0; stroke: #a07a20; }
.node.wait rect { fill: #f3eefa; stroke-dasharray: 4 2; }
.node.goal rect { fill: #e8f7f0; stroke: #2f8a5f; stroke-width: 2.4; }
.node.stop rect { fill: #fbeaea; stroke: #a03a3a; }
.node.block rect, .node.section rect { fill: #eef0f3; stroke-width: 2; }
.node text { fill: #1d2633; }
.node text.count { fill: #2c5d9e; font-weight: bold; }
.edge path { fill: none; stroke: #6b7889; stroke-width: 1.2; marker-end: url(#arrow); }
.edge.goal path { stroke: #2f8a5f; stroke-dasharray: 5 4; }
.edge text { fill: #4a5568; font-size: 10px; }
";

/// The graph as an SVG document.
pub fn write(graph: &Graph) -> String {
    let counted = graph.nodes.iter().any(|n| n.counts.is_some());
    let summaries: Vec<String> = graph
        .nodes
        .iter()
        .map(|n| n.counts.map(|c| c.summary()).unwrap_or_default())
        .collect();
    write_with(graph, counted.then_some(&summaries[..]), 22)
}

/// The graph as an SVG document; with `counts` (one text per node), every
/// box gets a line for counts holding its text, at least `at_least`
/// characters wide so that the live map can refresh the line in place as
/// its numbers grow.
pub fn write_with(graph: &Graph, counts: Option<&[String]>, at_least: usize) -> String {
    // Counts are drawn bold, a tenth wider than the label's characters.
    let widths: Option<Vec<usize>> = counts.map(|texts| {
        texts
            .iter()
            .map(|t| (t.chars().count() * 11).div_ceil(10).max(at_least))
            .collect()
    });
    let lay = layout::layout(graph, widths.as_deref());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"campaign-graph\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"sans-serif\" font-size=\"12\">",
        w = lay.width,
        h = lay.height
    );
    let _ = writeln!(out, "<title>{}</title>", escape(&graph.campaign));
    out.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#6b7889\"/></marker></defs>\n");
    let _ = writeln!(out, "<style>{STYLE}</style>");
    out.push_str("<g class=\"edges\">\n");
    for (i, edge) in graph.edges.iter().enumerate() {
        let class = match edge.kind {
            EdgeKind::Flow => "flow",
            EdgeKind::Goal => "goal",
        };
        let _ = write!(
            out,
            "<g class=\"edge {class}\" data-edge=\"{i}\" data-from=\"{}\" data-to=\"{}\"",
            escape(&edge.from),
            escape(&edge.to)
        );
        if let Some(c) = edge.count {
            let _ = write!(out, " data-count=\"{c}\"");
        }
        out.push('>');
        let d: Vec<String> = lay.edges[i]
            .iter()
            .enumerate()
            .map(|(k, (x, y))| format!("{}{x:.1},{y:.1}", if k == 0 { "M" } else { "L" }))
            .collect();
        let _ = write!(out, "<path d=\"{}\"/>", d.join(" "));
        let (x, y) = lay.labels[i];
        if let Some(label) = &edge.label {
            let _ = write!(
                out,
                "<text class=\"label\" x=\"{x:.1}\" y=\"{y:.1}\">{}</text>",
                escape(label)
            );
        }
        let count_y = if edge.label.is_some() { y + 12.0 } else { y };
        let _ = write!(
            out,
            "<text class=\"count\" data-edge=\"{i}\" x=\"{x:.1}\" y=\"{count_y:.1}\">{}</text>",
            edge.count.map(|c| c.to_string()).unwrap_or_default()
        );
        out.push_str("</g>\n");
    }
    out.push_str("</g>\n<g class=\"nodes\">\n");
    for (i, node) in graph.nodes.iter().enumerate() {
        let r = lay.nodes[i];
        let _ = write!(
            out,
            "<g class=\"node {}\" id=\"node-{}\" data-id=\"{}\" data-line=\"{}\" data-column=\"{}\" data-start=\"{}\" data-end=\"{}\">",
            node.kind.as_str(),
            escape(&node.id),
            escape(&node.id),
            node.span.line,
            node.span.column,
            node.span.start,
            node.span.end
        );
        let _ = write!(
            out,
            "<title>{} (line {}, column {})</title>",
            escape(&node.id),
            node.span.line,
            node.span.column
        );
        match node.kind {
            Kind::If | Kind::Split => {
                let (x, y, w, h) = (r.x, r.y, r.w, r.h);
                let _ = write!(
                    out,
                    "<polygon points=\"{:.1},{y:.1} {:.1},{y:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {x:.1},{:.1}\"/>",
                    x + 10.0,
                    x + w - 10.0,
                    x + w,
                    y + h / 2.0,
                    x + w - 10.0,
                    y + h,
                    x + 10.0,
                    y + h,
                    y + h / 2.0
                );
            }
            kind => {
                let rx = match kind {
                    Kind::Trigger | Kind::Start | Kind::End | Kind::Outside => r.h / 2.0,
                    _ => 6.0,
                };
                let _ = write!(
                    out,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"{rx:.1}\"/>",
                    r.x, r.y, r.w, r.h
                );
            }
        }
        let cx = r.center_x();
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">",
            r.y + 8.0
        );
        for line in node.label.lines() {
            let _ = write!(
                out,
                "<tspan x=\"{cx:.1}\" dy=\"{LINE_HEIGHT}\">{}</tspan>",
                escape(line)
            );
        }
        out.push_str("</text>");
        if let Some(counts) = counts {
            let lines = node.label.lines().count().max(1) as f64;
            let y = r.y + 8.0 + LINE_HEIGHT * (lines + 1.0) - 2.0;
            let _ = write!(
                out,
                "<text class=\"count\" data-node=\"{}\" x=\"{cx:.1}\" y=\"{y:.1}\" text-anchor=\"middle\">{}</text>",
                escape(&node.id),
                escape(&counts[i])
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</g>\n</svg>\n");
    out
}

/// Text for XML content or a double-quoted attribute.
pub use crate::encode::xml_text as escape;
