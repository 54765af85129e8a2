//! `--format json`: the graph as data for other tools (nodes with ids,
//! kinds, labels, spans and counts; edges with their ends, kinds, labels
//! and counts; the dry run's totals).

use crate::graph::model::Graph;

/// The graph as pretty-printed JSON, with a final newline.
pub fn write(graph: &Graph) -> String {
    // A graph is strings, numbers and lists: serializing it cannot fail.
    let mut text = serde_json::to_string_pretty(graph).unwrap_or_default();
    text.push('\n');
    text
}
