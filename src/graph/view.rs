//! Cutting a picture down to what a person can read: `--collapse` draws
//! each top-level `if`/`split` as one box and, past the node limit, runs of
//! top-level steps as sections; `--block ID` draws one step's subtree or
//! one section. Both are quotients of the full graph: boxes merge, edges
//! between the same two boxes add up, and counts stay exact (a merged
//! box's `entered` is what came in from outside it).

use std::collections::HashMap;

use crate::graph::model::{Edge, EdgeKind, Flow, Graph, Kind, Location, Node, NodeCounts, Shape};

/// Which part of the campaign to draw, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Top-level blocks as one box each, and sections past `max_nodes`.
    pub collapse: bool,
    /// Only this step (by id) or section (`sA-sB`).
    pub block: Option<String>,
    /// The most nodes one picture may have.
    pub max_nodes: usize,
}

/// A view that cannot be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// Too many nodes for one picture.
    #[error(
        "the graph has {nodes} nodes: past {max} (--max-nodes) a picture is too large to read\n  \
         help: draw it with --collapse (each top-level if/split as one box, long runs of steps as sections), \
         or draw one part with --block ID (a step id such as s12, or a section id from the collapsed view such as s0-s49); \
         --max-nodes N raises the limit, and --format json has none"
    )]
    TooLarge {
        /// Nodes the picture would have.
        nodes: usize,
        /// The limit.
        max: usize,
    },
    /// `--block` names nothing.
    #[error("--block {id:?}: no step or section has that id{hint}")]
    UnknownBlock {
        /// The id given.
        id: String,
        /// A suggestion.
        hint: String,
    },
}

/// `graph` as `view` shows it. The size limit is the caller's to check
/// (JSON output has none).
pub fn apply(graph: &Graph, view: &View) -> Result<Graph, ViewError> {
    let mut g = match &view.block {
        Some(id) => block(graph, id)?,
        None => graph.clone(),
    };
    if view.collapse {
        g = collapse(&g, view.max_nodes);
    }
    Ok(g)
}

/// Fails when `graph` has more than `max` nodes.
pub fn check_size(graph: &Graph, max: usize) -> Result<(), ViewError> {
    if graph.nodes.len() > max {
        return Err(ViewError::TooLarge {
            nodes: graph.nodes.len(),
            max,
        });
    }
    Ok(())
}

/// Every node index in a shape item.
fn members(item: &Shape, out: &mut Vec<usize>) {
    match item {
        Shape::Row(nodes) => out.extend(nodes),
        Shape::Node(n) => out.push(*n),
        Shape::Fork(n, columns) => {
            out.push(*n);
            for column in columns {
                for item in column {
                    members(item, out);
                }
            }
        }
    }
}

fn head(item: &Shape) -> Option<usize> {
    match item {
        Shape::Node(n) | Shape::Fork(n, _) => Some(*n),
        Shape::Row(_) => None,
    }
}

/// Items of the shape that are steps (not triggers, start, end or outside).
fn is_step(graph: &Graph, item: &Shape) -> bool {
    head(item).is_some_and(|n| {
        !matches!(
            graph.nodes[n].kind,
            Kind::Start | Kind::End | Kind::Outside | Kind::Trigger
        )
    })
}

/// A new node standing for several: kind, id, label and span given; the
/// counts are filled in by [`quotient`].
struct Group {
    node: Node,
    members: Vec<usize>,
}

fn collapse(graph: &Graph, max_nodes: usize) -> Graph {
    let steps: Vec<&Shape> = graph.shape.iter().filter(|i| is_step(graph, i)).collect();
    let fixed: usize = graph
        .shape
        .iter()
        .filter(|i| !is_step(graph, i))
        .map(|i| {
            let mut m = Vec::new();
            members(i, &mut m);
            m.len()
        })
        .sum();
    let room = max_nodes.saturating_sub(fixed).max(1);
    let per = steps.len().div_ceil(room).max(1);
    let mut groups: Vec<Group> = Vec::new();
    let mut shape = Vec::new();
    let mut chunk: Vec<&Shape> = Vec::new();
    let flush = |chunk: &mut Vec<&Shape>, groups: &mut Vec<Group>, shape: &mut Vec<Shape>| {
        if chunk.is_empty() {
            return;
        }
        let mut m = Vec::new();
        for item in chunk.iter() {
            members(item, &mut m);
        }
        let first = head(chunk[0]).unwrap_or(0);
        let last = head(chunk[chunk.len() - 1]).unwrap_or(0);
        let node = if chunk.len() == 1 {
            let original = &graph.nodes[first];
            match chunk[0] {
                Shape::Fork(..) => Node {
                    kind: Kind::Block,
                    label: format!("{}\n{} steps inside", original.label, m.len() - 1),
                    counts: None,
                    ..original.clone()
                },
                _ => Node {
                    counts: None,
                    ..original.clone()
                },
            }
        } else {
            let (a, b) = (&graph.nodes[first], &graph.nodes[last]);
            let end = m
                .iter()
                .map(|&n| graph.nodes[n].span.end)
                .max()
                .unwrap_or(b.span.end);
            let last_line = m
                .iter()
                .map(|&n| graph.nodes[n].span.line)
                .max()
                .unwrap_or(b.span.line);
            Node {
                id: format!("{}-{}", a.id, b.id),
                kind: Kind::Section,
                label: format!(
                    "{} … {}\nlines {}–{}\n{}",
                    a.id,
                    b.id,
                    a.span.line,
                    last_line,
                    tally(graph, &m)
                ),
                span: Location { end, ..a.span },
                counts: None,
            }
        };
        shape.push(Shape::Node(groups.len()));
        groups.push(Group { node, members: m });
        chunk.clear();
    };
    for item in &graph.shape {
        if is_step(graph, item) {
            chunk.push(item);
            if chunk.len() == per {
                flush(&mut chunk, &mut groups, &mut shape);
            }
        } else {
            flush(&mut chunk, &mut groups, &mut shape);
            match item {
                Shape::Row(nodes) => {
                    let mut row = Vec::new();
                    for &n in nodes {
                        row.push(groups.len());
                        groups.push(single(graph, n));
                    }
                    shape.push(Shape::Row(row));
                }
                other => {
                    let n = head(other).unwrap_or(0);
                    shape.push(Shape::Node(groups.len()));
                    groups.push(single(graph, n));
                }
            }
        }
    }
    flush(&mut chunk, &mut groups, &mut shape);
    let mut g = quotient(graph, groups, shape);
    // No fork is drawn open: every edge runs straight.
    for e in &mut g.edges {
        e.lane = None;
    }
    g
}

fn single(graph: &Graph, n: usize) -> Group {
    Group {
        node: graph.nodes[n].clone(),
        members: vec![n],
    }
}

/// "12 webhook, 3 if, ..." for a section's box.
fn tally(graph: &Graph, members: &[usize]) -> String {
    let mut by: Vec<(&str, usize)> = Vec::new();
    for &n in members {
        let k = graph.nodes[n].kind.as_str();
        match by.iter_mut().find(|(name, _)| *name == k) {
            Some((_, c)) => *c += 1,
            None => by.push((k, 1)),
        }
    }
    by.iter()
        .map(|(k, c)| format!("{c} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn block(graph: &Graph, id: &str) -> Result<Graph, ViewError> {
    let unknown = |hint: String| ViewError::UnknownBlock {
        id: id.to_string(),
        hint,
    };
    // A section: a range of top-level steps.
    let items: Vec<&Shape> = if let Some((a, b)) = id.split_once('-') {
        let tops: Vec<&Shape> = graph.shape.iter().filter(|i| is_step(graph, i)).collect();
        let at = |want: &str| {
            tops.iter()
                .position(|i| head(i).is_some_and(|n| graph.nodes[n].id == want))
        };
        match (at(a), at(b)) {
            (Some(x), Some(y)) if x <= y => tops[x..=y].to_vec(),
            _ => {
                return Err(unknown(
                    ": a section is two top-level step ids, first to last, such as s0-s49".into(),
                ))
            }
        }
    } else {
        match find(&graph.shape, &|n| graph.nodes[n].id == id) {
            Some(item) => vec![item],
            None => {
                let hint = if graph.node(id).is_some() {
                    ": it is not a step; give a step id such as s3".into()
                } else {
                    ": ids are s0, s1, ... for top-level steps and s3_1_0 for steps inside blocks (see --format json)".into()
                };
                return Err(unknown(hint));
            }
        }
    };
    let mut inside = Vec::new();
    for item in &items {
        members(item, &mut inside);
    }
    let first = &graph.nodes[inside[0]];
    let mut groups = vec![Group {
        node: Node {
            id: "in".into(),
            kind: Kind::Outside,
            label: format!("before {}", first.id),
            span: first.span,
            counts: None,
        },
        members: Vec::new(),
    }];
    // Old node -> new; the shape is the items' with renumbered nodes.
    let mut renumber: HashMap<usize, usize> = HashMap::new();
    for &n in &inside {
        renumber.insert(n, groups.len());
        groups.push(single(graph, n));
    }
    let out = groups.len();
    let last = &graph.nodes[items.last().and_then(|i| head(i)).unwrap_or(inside[0])];
    groups.push(Group {
        node: Node {
            id: "out".into(),
            kind: Kind::Outside,
            label: format!("after {}", last.id),
            span: last.span,
            counts: None,
        },
        members: Vec::new(),
    });
    let mut shape = vec![Shape::Node(0)];
    shape.extend(items.iter().map(|i| renumbered(i, &renumber)));
    shape.push(Shape::Node(out));
    // Outside members: everything else goes to `in` (as a source) or `out`.
    let mut g = quotient(graph, groups, shape);
    // Lanes of kept forks keep their block numbers.
    for e in &mut g.edges {
        if let Some((fork, k)) = e.lane {
            e.lane = renumber.get(&fork).map(|&f| (f, k));
        }
    }
    Ok(g)
}

fn find<'s>(shape: &'s [Shape], want: &dyn Fn(usize) -> bool) -> Option<&'s Shape> {
    for item in shape {
        match item {
            Shape::Node(n) if want(*n) => return Some(item),
            Shape::Fork(n, _) if want(*n) => return Some(item),
            Shape::Fork(_, columns) => {
                for column in columns {
                    if let Some(found) = find(column, want) {
                        return Some(found);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

fn renumbered(item: &Shape, map: &HashMap<usize, usize>) -> Shape {
    match item {
        Shape::Row(nodes) => Shape::Row(nodes.iter().map(|n| map[n]).collect()),
        Shape::Node(n) => Shape::Node(map[n]),
        Shape::Fork(n, columns) => Shape::Fork(
            map[n],
            columns
                .iter()
                .map(|c| c.iter().map(|i| renumbered(i, map)).collect())
                .collect(),
        ),
    }
}

/// The graph with `groups` as its nodes. An old node in no group is
/// outside: edges from it start at the group with id `in`, edges to it end
/// at `out` (a block view); edges within one group vanish; edges between
/// the same two groups (and of one kind) add up.
fn quotient(graph: &Graph, groups: Vec<Group>, shape: Vec<Shape>) -> Graph {
    let mut of: Vec<Option<usize>> = vec![None; graph.nodes.len()];
    for (g, group) in groups.iter().enumerate() {
        for &m in &group.members {
            of[m] = Some(g);
        }
    }
    let inn = groups
        .iter()
        .position(|g| g.node.id == "in" && g.node.kind == Kind::Outside);
    let out = groups
        .iter()
        .position(|g| g.node.id == "out" && g.node.kind == Kind::Outside);
    let counted = graph.nodes.iter().any(|n| n.counts.is_some());
    let mut nodes: Vec<Node> = groups.iter().map(|g| g.node.clone()).collect();
    let mut sums: Vec<NodeCounts> = vec![NodeCounts::default(); nodes.len()];
    let mut inner: Vec<bool> = vec![false; nodes.len()];
    for (g, group) in groups.iter().enumerate() {
        if group.members.len() == 1 {
            continue;
        }
        inner[g] = true;
        for &m in &group.members {
            if let Some(c) = graph.nodes[m].counts {
                sums[g].failed += c.failed;
                sums[g].waiting += c.waiting;
                sums[g].ended += c.ended;
            }
        }
    }
    let mut edges: Vec<Edge> = Vec::new();
    let mut index: HashMap<(usize, usize, EdgeKind), (usize, usize)> = HashMap::new();
    for e in &graph.edges {
        let (Some(from), Some(to)) = (of[e.ends.0].or(inn), of[e.ends.1].or(out)) else {
            continue;
        };
        if of[e.ends.0].is_none() && of[e.ends.1].is_none() {
            continue;
        }
        if from == to {
            continue;
        }
        if let Some(n) = e.count {
            if inner[from] {
                sums[from].left += n;
            }
            if inner[to] {
                sums[to].entered += n;
            }
        }
        match index.get(&(from, to, e.kind)) {
            Some(&(at, merged)) => {
                let m = &mut edges[at];
                m.count = match (m.count, e.count) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
                m.label = None;
                m.flow = Flow::Summed;
                m.lane = None;
                index.insert((from, to, e.kind), (at, merged + 1));
            }
            None => {
                index.insert((from, to, e.kind), (edges.len(), 1));
                let same = of[e.ends.0] == Some(from) && groups[from].members.len() == 1;
                edges.push(Edge {
                    from: nodes[from].id.clone(),
                    to: nodes[to].id.clone(),
                    ends: (from, to),
                    flow: if same { e.flow } else { Flow::Summed },
                    lane: if same { e.lane } else { None },
                    ..e.clone()
                });
            }
        }
    }
    for (g, node) in nodes.iter_mut().enumerate() {
        if inner[g] && counted && node.kind != Kind::Outside {
            node.counts = Some(sums[g]);
        }
    }
    Graph {
        campaign: graph.campaign.clone(),
        nodes,
        edges,
        contacts: graph.contacts,
        shape,
    }
}
