//! Where the boxes go. A campaign's flow is series-parallel (blocks in
//! sequence, forks whose blocks meet again below), so it is laid out
//! exactly by recursion rather than by a general layered layout: a block
//! is a column of its steps; a fork puts its blocks' columns side by side
//! under it, each as wide as it needs. Linear in the nodes; no crossing
//! can happen but for the dashed goal edges, which run in lanes down the
//! right-hand side. (The `layout-rs` crate was evaluated: a general
//! Sugiyama layout gives no guarantee on this shape, and its SVG cannot
//! carry the ids and classes the live map needs; see docs/graph.md.)

use crate::graph::model::{EdgeKind, Graph, Shape};

/// Width of a character of the 12px sans-serif labels, on average.
pub const CHAR_WIDTH: f64 = 7.0;
/// Height of a line of text.
pub const LINE_HEIGHT: f64 = 16.0;
const PAD_X: f64 = 12.0;
const PAD_Y: f64 = 8.0;
const MIN_WIDTH: f64 = 72.0;
/// Vertical room between a box and the next (labels sit in it).
const GAP_Y: f64 = 34.0;
/// Room between columns.
const GAP_X: f64 = 24.0;
/// Where edges bend, below a box and above the next.
const BEND: f64 = 14.0;
/// Room from the drawing to the first goal lane, and between lanes.
const LANE: f64 = 10.0;
const MARGIN: f64 = 16.0;

/// A box: top-left corner and size.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rect {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    /// The middle of the box.
    pub fn center_x(&self) -> f64 {
        self.x + self.w / 2.0
    }

    /// The bottom edge.
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }
}

/// Positions for a graph's nodes and edges.
#[derive(Debug, Clone)]
pub struct Layout {
    /// One box per node, indexed like `graph.nodes`.
    pub nodes: Vec<Rect>,
    /// One polyline per edge, indexed like `graph.edges`.
    pub edges: Vec<Vec<(f64, f64)>>,
    /// Where each edge's label starts (left end of its baseline).
    pub labels: Vec<(f64, f64)>,
    /// The drawing's size.
    pub width: f64,
    /// The drawing's height.
    pub height: f64,
}

/// The size of a node's box: its label's lines, and with `count` a line
/// for counts that many characters wide.
pub fn node_size(label: &str, count: Option<usize>) -> (f64, f64) {
    let lines = label.lines().count().max(1) + usize::from(count.is_some());
    let widest = label
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(count.unwrap_or(0));
    let w = (widest as f64 * CHAR_WIDTH + 2.0 * PAD_X).max(MIN_WIDTH);
    let h = lines as f64 * LINE_HEIGHT + 2.0 * PAD_Y;
    (w, h)
}

/// Lays `graph` out; with `count_widths` (one per node, in characters)
/// every box gets a line for counts that wide.
pub fn layout(graph: &Graph, count_widths: Option<&[usize]>) -> Layout {
    let sizes: Vec<(f64, f64)> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| node_size(&n.label, count_widths.map(|w| w[i])))
        .collect();
    // Edge label widths, for the block a fork's edge leads into.
    let mut arm_label = std::collections::HashMap::new();
    for e in &graph.edges {
        if let (Some(lane), Some(label)) = (e.lane, e.label_with_count()) {
            let w = label.chars().count() as f64 * CHAR_WIDTH * 0.9 + 8.0;
            arm_label.insert(lane, w);
        }
    }
    let mut l = Placer {
        sizes: &sizes,
        arm_label: &arm_label,
        rects: vec![Rect::default(); graph.nodes.len()],
        lanes: std::collections::HashMap::new(),
    };
    let width = l.width(&graph.shape);
    let height = l.place(&graph.shape, MARGIN, width, MARGIN);
    let rects = l.rects;
    let lanes = l.lanes;
    let mut right = MARGIN + width;
    let mut edges = Vec::with_capacity(graph.edges.len());
    let mut labels = Vec::with_capacity(graph.edges.len());
    // Goal edges come per goal, their sources top to bottom: the lower a
    // source, the nearer its lane, so a goal's lanes do not cross.
    let goal_edges = graph
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Goal)
        .count();
    let mut goal_lane = 0usize;
    for e in &graph.edges {
        let (a, b) = (rects[e.ends.0], rects[e.ends.1]);
        if e.kind == EdgeKind::Goal {
            goal_lane += 1;
            let x = MARGIN + width + LANE * (goal_edges + 1 - goal_lane) as f64;
            right = right.max(x);
            let (ya, yb) = (a.y + a.h / 2.0, b.y + b.h / 2.0);
            edges.push(vec![(a.x + a.w, ya), (x, ya), (x, yb), (b.x + b.w, yb)]);
            labels.push((x + 3.0, (ya + yb) / 2.0));
            continue;
        }
        let lane_x = e
            .lane
            .and_then(|lane| lanes.get(&lane).copied())
            .unwrap_or(a.center_x());
        let start = (a.center_x(), a.bottom());
        let end = (b.center_x(), b.y);
        let mut points = vec![start];
        if lane_x != start.0 || end.0 != start.0 {
            points.push((lane_x, a.bottom() + BEND));
            points.push((lane_x, (b.y - BEND).max(a.bottom() + BEND)));
        }
        points.push(end);
        points.dedup();
        labels.push(if e.lane.is_some() {
            (lane_x + 4.0, a.bottom() + BEND + 11.0)
        } else {
            (start.0 + 5.0, (start.1 + end.1) / 2.0 + 4.0)
        });
        edges.push(points);
    }
    Layout {
        nodes: rects,
        edges,
        labels,
        width: right + MARGIN + if goal_lane > 0 { 40.0 } else { 0.0 },
        height: height + MARGIN,
    }
}

struct Placer<'a> {
    sizes: &'a [(f64, f64)],
    arm_label: &'a std::collections::HashMap<(usize, usize), f64>,
    rects: Vec<Rect>,
    /// The x of each fork block's column.
    lanes: std::collections::HashMap<(usize, usize), f64>,
}

impl Placer<'_> {
    fn width(&self, items: &[Shape]) -> f64 {
        items.iter().map(|i| self.item_width(i)).fold(0.0, f64::max)
    }

    fn column_width(&self, fork: usize, k: usize, column: &[Shape]) -> f64 {
        let label = self.arm_label.get(&(fork, k)).copied().unwrap_or(0.0);
        self.width(column).max(label).max(MIN_WIDTH)
    }

    fn item_width(&self, item: &Shape) -> f64 {
        match item {
            Shape::Node(n) => self.sizes[*n].0,
            Shape::Row(nodes) => {
                nodes.iter().map(|n| self.sizes[*n].0).sum::<f64>()
                    + GAP_X * nodes.len().saturating_sub(1) as f64
            }
            Shape::Fork(n, columns) => {
                let inner: f64 = columns
                    .iter()
                    .enumerate()
                    .map(|(k, c)| self.column_width(*n, k, c))
                    .sum::<f64>()
                    + GAP_X * columns.len().saturating_sub(1) as f64;
                inner.max(self.sizes[*n].0)
            }
        }
    }

    /// Places `items` in the column `left..left + width` from `y` down;
    /// returns the y below them.
    fn place(&mut self, items: &[Shape], left: f64, width: f64, mut y: f64) -> f64 {
        for item in items {
            match item {
                Shape::Node(n) => {
                    y = self.put(*n, left + width / 2.0, y) + GAP_Y;
                }
                Shape::Row(nodes) => {
                    let total = self.item_width(item);
                    let mut x = left + (width - total) / 2.0;
                    let mut bottom = y;
                    for &n in nodes {
                        let w = self.sizes[n].0;
                        bottom = bottom.max(self.put(n, x + w / 2.0, y));
                        x += w + GAP_X;
                    }
                    y = bottom + GAP_Y;
                }
                Shape::Fork(n, columns) => {
                    let below = self.put(*n, left + width / 2.0, y) + GAP_Y + BEND;
                    let widths: Vec<f64> = columns
                        .iter()
                        .enumerate()
                        .map(|(k, c)| self.column_width(*n, k, c))
                        .collect();
                    let total =
                        widths.iter().sum::<f64>() + GAP_X * columns.len().saturating_sub(1) as f64;
                    let mut x = left + (width - total) / 2.0;
                    let mut bottom = below;
                    for (k, column) in columns.iter().enumerate() {
                        self.lanes.insert((*n, k), x + widths[k] / 2.0);
                        bottom = bottom.max(self.place(column, x, widths[k], below));
                        x += widths[k] + GAP_X;
                    }
                    y = bottom;
                }
            }
        }
        y
    }

    /// Puts node `n` centred on `cx` with its top at `y`; returns its bottom.
    fn put(&mut self, n: usize, cx: f64, y: f64) -> f64 {
        let (w, h) = self.sizes[n];
        self.rects[n] = Rect {
            x: cx - w / 2.0,
            y,
            w,
            h,
        };
        y + h
    }
}
