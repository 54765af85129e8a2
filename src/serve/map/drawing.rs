//! One revision as the live map draws it: the graph `campaign graph` draws
//! (built once per revision), and the store's counts put on its nodes.
//!
//! The store knows a position by its step's place in the tree (`3.if.2`,
//! [`step_paths`]) and a send attempt by its webhook's name; the graph
//! knows a node by its id (`s2_0_1`). Both come from the same typed tree,
//! so each is joined to the node through the step's span.

use std::collections::HashMap;

use serde::Serialize;

use crate::diagnostics::SourceFile;
use crate::graph::{self, Graph, Kind, Node};
use crate::serve::campaigns::step_paths;
use crate::store::{MapCounts, State};
use crate::syntax::ast::{Campaign, StepKind};

/// A revision's picture and how to find its nodes.
pub struct Drawing {
    /// The graph, without counts.
    pub graph: Graph,
    /// Whether it has more nodes than one picture should
    /// ([`graph::MAX_NODES`]): then the page lists the counts per step
    /// instead of drawing them.
    pub too_large: bool,
    /// Step place to node index.
    places: HashMap<String, usize>,
    /// Webhook name to node index.
    webhooks: HashMap<String, usize>,
    /// The `end` node's index.
    end: Option<usize>,
}

/// What the map shows on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeLive {
    /// The node's id.
    pub id: String,
    /// The first line of its box's text.
    pub label: String,
    /// Its line in the source.
    pub line: usize,
    /// The count line drawn in its box.
    pub text: String,
    /// Contacts waiting here.
    pub waiting: u64,
    /// Contacts due to try this webhook again (its long-term retries).
    pub retrying: u64,
    /// Contacts whose run failed here.
    pub failed: u64,
    /// Contacts that finished (the `end` node).
    pub done: u64,
    /// A webhook's requests tried (one per contact entry).
    pub sent: u64,
    /// A webhook's requests that got a 2xx.
    pub delivered: u64,
    /// A webhook's attempts that did not get a 2xx.
    pub failed_attempts: u64,
}

/// A revision's totals: every position is in one state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Contacts that entered this revision (or were moved to it).
    pub entered: u64,
    /// Running, or due to run (a new entry, a retry later).
    pub active: u64,
    /// Parked at a wait.
    pub waiting: u64,
    /// Finished.
    pub done: u64,
    /// Failed.
    pub failed: u64,
}

/// The counts of a revision placed on its nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Placed {
    /// Per node, in the graph's order.
    pub nodes: Vec<NodeLive>,
    /// Per state.
    pub totals: Totals,
}

impl Drawing {
    /// The drawing of `campaign`, whose text is `source`.
    pub fn new(campaign: &Campaign, source: &SourceFile) -> Drawing {
        let graph = graph::build(campaign, source);
        let by_span: HashMap<(u32, u32), usize> = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| ((n.span.start, n.span.end), i))
            .collect();
        let places = step_paths(campaign)
            .into_iter()
            .filter_map(|(span, place)| Some((place, *by_span.get(&(span.start, span.end))?)))
            .collect();
        let mut webhooks = HashMap::new();
        crate::check::walk_steps(&campaign.steps, &mut |step| {
            if let StepKind::Webhook(w) = &step.kind {
                if let Some(&i) = by_span.get(&(step.span.start, step.span.end)) {
                    webhooks.insert(w.name.node.to_string(), i);
                }
            }
        });
        let end = graph.nodes.iter().position(|n| n.kind == Kind::End);
        let too_large = graph.nodes.len() > graph::MAX_NODES;
        Drawing {
            graph,
            too_large,
            places,
            webhooks,
            end,
        }
    }

    /// `counts` on the nodes. A position or webhook the drawing does not
    /// have (none should) counts in the totals only.
    pub fn place(&self, counts: &MapCounts) -> Placed {
        let mut nodes: Vec<NodeLive> = self
            .graph
            .nodes
            .iter()
            .map(|n| NodeLive {
                id: n.id.clone(),
                label: n.label.lines().next().unwrap_or("").to_string(),
                line: n.span.line,
                ..NodeLive::default()
            })
            .collect();
        let mut totals = Totals::default();
        for row in &counts.positions {
            totals.entered += row.count;
            let at = row.step.as_ref().and_then(|s| self.places.get(s)).copied();
            match row.state {
                State::Active => {
                    totals.active += row.count;
                    // Only a position due for a webhook's retry has a step.
                    if let Some(i) = at {
                        nodes[i].retrying += row.count;
                    }
                }
                State::Waiting => {
                    totals.waiting += row.count;
                    if let Some(i) = at {
                        nodes[i].waiting += row.count;
                    }
                }
                State::Failed => {
                    totals.failed += row.count;
                    if let Some(i) = at {
                        nodes[i].failed += row.count;
                    }
                }
                State::Done => {
                    totals.done += row.count;
                    if let Some(i) = self.end {
                        nodes[i].done += row.count;
                    }
                }
            }
        }
        for send in &counts.sends {
            if let Some(&i) = self.webhooks.get(&send.webhook) {
                nodes[i].sent += send.requests;
                nodes[i].delivered += send.delivered;
                nodes[i].failed_attempts += send.failed_attempts;
            }
        }
        for (node, live) in self.graph.nodes.iter().zip(&mut nodes) {
            live.text = text(node, live);
        }
        Placed { nodes, totals }
    }

    /// The node a step place names, for a failure's line.
    pub fn node_of_place(&self, place: &str) -> Option<&Node> {
        self.places.get(place).map(|&i| &self.graph.nodes[i])
    }
}

/// The count line of a box: what is true of that kind of node, zeros
/// included where the number is the point (a wait's `0 waiting`).
fn text(node: &Node, live: &NodeLive) -> String {
    let mut parts = Vec::new();
    match node.kind {
        Kind::Webhook => {
            parts.push(format!("{} sent", live.sent));
            parts.push(format!("{} delivered", live.delivered));
            if live.retrying > 0 {
                parts.push(format!("{} retrying", live.retrying));
            }
        }
        Kind::Wait => parts.push(format!("{} waiting", live.waiting)),
        Kind::End => parts.push(format!("{} done", live.done)),
        _ if live.waiting > 0 => parts.push(format!("{} waiting", live.waiting)),
        _ => {}
    }
    if live.failed > 0 {
        parts.push(format!("{} failed", live.failed));
    }
    parts.join(" · ")
}
