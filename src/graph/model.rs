//! The picture as data: one node per step, built from the typed AST, each
//! with the span it was written at, and the edges a contact can take.
//!
//! Node ids come from the step's place in the tree, so they stay put while
//! the text around a step changes (docs/graph.md):
//! - `t0`, `t1`, ...: the triggers, in order;
//! - `start`: where contacts enter (goals are checked there first);
//! - `s3`: the fourth top-level step (counting from 0);
//! - `s3_1_0`: the first step of block 1 of step `s3`. An `if` chain's
//!   blocks are its branches in order, then its `else`; a `split`'s are
//!   its first block (0) and its `else` (1). Deeper steps add a pair of
//!   numbers per level: `s3_1_0_0_2`;
//! - `end`: where contacts finish.

use serde::Serialize;

use crate::diagnostics::SourceFile;
use crate::span::Span;
use crate::syntax::ast::{
    Block, Campaign, Method, Setting, Step, StepKind, TagOp, Template, Trigger, Wait,
};
use crate::url_template;

/// Longest line of a node's or edge's label, in characters; the whole text
/// stays in the source, which the node's span points at.
pub const LABEL_CHARS: usize = 48;

/// A campaign drawn as a flow chart.
#[derive(Debug, Clone, Serialize)]
pub struct Graph {
    /// The campaign's name.
    pub campaign: String,
    /// Every node: triggers, `start`, the steps in source order, `end`.
    pub nodes: Vec<Node>,
    /// Every edge, in the order the flow is built.
    pub edges: Vec<Edge>,
    /// Totals of the dry run the counts come from, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Totals>,
    /// The series-parallel shape the layout follows.
    #[serde(skip)]
    pub(crate) shape: Vec<Shape>,
}

/// One box.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Stable id (see the module doc).
    pub id: String,
    /// What the node stands for.
    pub kind: Kind,
    /// The text drawn in the box, lines joined with `\n`; long source text
    /// is cut with `…`.
    pub label: String,
    /// Where it was written (for `start` and `end`: the campaign's name
    /// and its closing brace).
    pub span: Location,
    /// How many contacts passed it, when a dry run or the server counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<NodeCounts>,
}

/// Node kinds, as `kind` in JSON and as a class in SVG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A `trigger` line.
    Trigger,
    /// Where contacts enter.
    Start,
    /// `webhook "name" { ... }`
    Webhook,
    /// `tag add` / `tag remove`
    Tag,
    /// `field set`
    FieldSet,
    /// `note`
    Note,
    /// `wait` / `wait until`
    Wait,
    /// An `if` / `else if` / `else` chain: the fork.
    If,
    /// `split N%`
    Split,
    /// `stop`
    Stop,
    /// `goal "name" when ...`
    Goal,
    /// Where contacts finish.
    End,
    /// `--collapse`: an `if` or `split` drawn as one box.
    Block,
    /// `--collapse`: a run of top-level steps drawn as one box.
    Section,
    /// `--block`: where the drawn part is entered from, or left to.
    Outside,
}

impl Kind {
    /// The kind's name, as JSON and SVG write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Trigger => "trigger",
            Kind::Start => "start",
            Kind::Webhook => "webhook",
            Kind::Tag => "tag",
            Kind::FieldSet => "field_set",
            Kind::Note => "note",
            Kind::Wait => "wait",
            Kind::If => "if",
            Kind::Split => "split",
            Kind::Stop => "stop",
            Kind::Goal => "goal",
            Kind::End => "end",
            Kind::Block => "block",
            Kind::Section => "section",
            Kind::Outside => "outside",
        }
    }
}

/// A span as byte offsets and as 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset one past the last byte.
    pub end: u32,
    /// Line of `start`.
    pub line: usize,
    /// Column of `start`.
    pub column: usize,
}

impl Location {
    /// `span` in `source`.
    pub fn of(span: Span, source: &SourceFile) -> Location {
        let (line, column) = source.line_col(span.start);
        Location {
            start: span.start,
            end: span.end,
            line,
            column,
        }
    }

    /// The span again.
    pub fn span(self) -> Span {
        Span {
            start: self.start,
            end: self.end,
        }
    }
}

/// How many contacts a node saw. For every node,
/// `entered == left + failed + waiting + ended`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NodeCounts {
    /// Contacts that reached it (walking on, or pulled to a goal).
    pub entered: u64,
    /// Contacts that went on from it: the sum of its outgoing edges.
    pub left: u64,
    /// Contacts parked at it (waits; the live map's waiting contacts).
    pub waiting: u64,
    /// Contacts whose run failed at it.
    pub failed: u64,
    /// Contacts whose run ended at it (`stop`, `end`).
    pub ended: u64,
    /// For a goal: contacts that reached it with its condition holding (the
    /// `goal` effects); absent for other nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met: Option<u64>,
}

/// Totals over the counted run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Records read (contacts run, and unreadable records).
    pub records: u64,
    /// Records that could not be read as contacts: they entered nothing.
    pub unreadable: u64,
}

/// One arrow.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// The id of the node it leaves.
    pub from: String,
    /// The id of the node it enters.
    pub to: String,
    /// `flow` (solid) or `goal` (dashed: a goal check pulling contacts
    /// forward).
    pub kind: EdgeKind,
    /// The condition's source text, `else`, or a split's percentage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Contacts that took it, when counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Node indexes of `from` and `to`.
    #[serde(skip)]
    pub(crate) ends: (usize, usize),
    /// What the edge counts (for the counters).
    #[serde(skip)]
    pub(crate) flow: Flow,
    /// For an edge into a block of a fork: the fork's node index and the
    /// block's; the layout runs it down that block's column.
    #[serde(skip)]
    pub(crate) lane: Option<(usize, usize)>,
}

/// Edge kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// The order of the steps: solid.
    Flow,
    /// A goal pulling contacts forward: dashed.
    Goal,
}

/// Which contacts an edge carries, in terms the counters know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Trigger to start: not counted.
    Trigger,
    /// Everyone who went on from the node.
    Left(usize),
    /// A fork's block `k`.
    Arm(usize, usize),
    /// A fork whose blocks all stand to the left: the contacts none took
    /// (an `if` without `else`).
    Otherwise(usize),
    /// From a goal check at the node to goal `goal` (an index into the
    /// program's goals).
    Pull(usize, usize),
    /// Edges of a collapsed or cut view: counts summed already.
    Summed,
}

/// The series-parallel structure the layout draws.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// Nodes side by side (the triggers).
    Row(Vec<usize>),
    /// One node.
    Node(usize),
    /// A fork node and its blocks, each a column.
    Fork(usize, Vec<Vec<Shape>>),
}

/// A step node's place, for the counters: its AST step and, for a goal,
/// its index among the program's goals.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepRef<'a> {
    pub step: &'a Step,
    pub node: usize,
    pub goal: Option<usize>,
}

/// An edge not yet joined to the node after it.
#[derive(Debug, Clone)]
struct Exit {
    from: usize,
    label: Option<String>,
    flow: Flow,
    lane: Option<(usize, usize)>,
}

/// Builds the graph of `campaign` (parsed from `source`), and lists its
/// step nodes in source order for the counters.
pub(crate) fn build<'a>(campaign: &'a Campaign, source: &SourceFile) -> (Graph, Vec<StepRef<'a>>) {
    let mut b = Builder {
        source,
        nodes: Vec::new(),
        edges: Vec::new(),
        steps: Vec::new(),
        goals: 0,
        pull_points: Vec::new(),
    };
    let mut shape = Vec::new();
    let triggers: Vec<usize> = campaign
        .triggers
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let label = trigger_label(&t.node, source);
            b.node(format!("t{i}"), Kind::Trigger, label, t.span)
        })
        .collect();
    if !triggers.is_empty() {
        shape.push(Shape::Row(triggers.clone()));
    }
    let start = b.node(
        "start".into(),
        Kind::Start,
        format!("enter\n{}", clip(&campaign.name.node)),
        campaign.name.span,
    );
    for t in triggers {
        b.edge(t, start, None, Flow::Trigger, None);
    }
    shape.push(Shape::Node(start));
    b.pull_points.push(start);
    let exits = vec![Exit {
        from: start,
        label: None,
        flow: Flow::Left(start),
        lane: None,
    }];
    let exits = b.block(&campaign.steps, "s", exits, &mut shape, true);
    let close = Span::new(
        campaign.span.end.saturating_sub(1) as usize,
        campaign.span.end as usize,
    );
    let end = b.node("end".into(), Kind::End, "end".into(), close);
    b.join(exits, end);
    shape.push(Shape::Node(end));
    let graph = Graph {
        campaign: campaign.name.node.to_string(),
        nodes: b.nodes,
        edges: b.edges,
        contacts: None,
        shape,
    };
    (graph, b.steps)
}

struct Builder<'a, 's> {
    source: &'s SourceFile,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    steps: Vec<StepRef<'a>>,
    /// Goals seen so far.
    goals: usize,
    /// Nodes a goal check happens at (start and the waits) not yet joined
    /// to the goals after them.
    pull_points: Vec<usize>,
}

impl<'a> Builder<'a, '_> {
    fn node(&mut self, id: String, kind: Kind, label: String, span: Span) -> usize {
        self.nodes.push(Node {
            id,
            kind,
            label,
            span: Location::of(span, self.source),
            counts: None,
        });
        self.nodes.len() - 1
    }

    fn edge(
        &mut self,
        from: usize,
        to: usize,
        label: Option<String>,
        flow: Flow,
        lane: Option<(usize, usize)>,
    ) {
        let kind = if matches!(flow, Flow::Pull(..)) {
            EdgeKind::Goal
        } else {
            EdgeKind::Flow
        };
        self.edges.push(Edge {
            from: self.nodes[from].id.clone(),
            to: self.nodes[to].id.clone(),
            kind,
            label,
            count: None,
            ends: (from, to),
            flow,
            lane,
        });
    }

    fn join(&mut self, exits: Vec<Exit>, to: usize) {
        for exit in exits {
            self.edge(exit.from, to, exit.label, exit.flow, exit.lane);
        }
    }

    fn text(&self, span: Span) -> &str {
        self.source.text.get(span.range()).unwrap_or("")
    }

    /// Lays the steps of one block after `exits`; returns the block's exits.
    fn block(
        &mut self,
        steps: &'a [Step],
        prefix: &str,
        mut exits: Vec<Exit>,
        shape: &mut Vec<Shape>,
        top: bool,
    ) -> Vec<Exit> {
        for (i, step) in steps.iter().enumerate() {
            let id = if top {
                format!("s{i}")
            } else {
                format!("{prefix}_{i}")
            };
            exits = self.step(step, id, exits, shape);
        }
        exits
    }

    fn step(
        &mut self,
        step: &'a Step,
        id: String,
        exits: Vec<Exit>,
        shape: &mut Vec<Shape>,
    ) -> Vec<Exit> {
        let (kind, label) = self.describe(step);
        let node = self.node(id.clone(), kind, label, step.span);
        self.join(exits, node);
        let mut goal = None;
        if let StepKind::Goal(_) = step.kind {
            goal = Some(self.goals);
            self.goals += 1;
            for from in self.pull_points.clone() {
                self.edge(from, node, None, Flow::Pull(from, self.goals - 1), None);
            }
        }
        self.steps.push(StepRef { step, node, goal });
        let plain = |from| {
            vec![Exit {
                from,
                label: None,
                flow: Flow::Left(from),
                lane: None,
            }]
        };
        match &step.kind {
            StepKind::Wait(_) => {
                self.pull_points.push(node);
                shape.push(Shape::Node(node));
                plain(node)
            }
            StepKind::Stop => {
                shape.push(Shape::Node(node));
                Vec::new()
            }
            StepKind::If(chain) => {
                let mut blocks: Vec<(&'a Block, String)> = chain
                    .branches
                    .iter()
                    .map(|b| {
                        (
                            &b.body,
                            clip(&collapse_space(self.text(b.cond.span()))).into_owned(),
                        )
                    })
                    .collect();
                let has_else = chain.otherwise.is_some();
                if let Some(o) = &chain.otherwise {
                    blocks.push((o, "else".into()));
                }
                let mut out = self.fork(node, &id, &blocks, shape);
                if !has_else {
                    out.push(Exit {
                        from: node,
                        label: Some("else".into()),
                        flow: Flow::Otherwise(node),
                        lane: None,
                    });
                }
                out
            }
            StepKind::Split(split) => {
                let p = split.percent.node;
                let blocks = [
                    (&split.first, format!("{p}%")),
                    (&split.otherwise, format!("{}%", 100 - u32::from(p))),
                ];
                self.fork(node, &id, &blocks, shape)
            }
            _ => {
                shape.push(Shape::Node(node));
                plain(node)
            }
        }
    }

    /// A fork's blocks side by side; returns every block's exits.
    fn fork(
        &mut self,
        node: usize,
        id: &str,
        blocks: &[(&'a Block, String)],
        shape: &mut Vec<Shape>,
    ) -> Vec<Exit> {
        let mut columns = Vec::new();
        let mut out = Vec::new();
        for (k, (block, label)) in blocks.iter().enumerate() {
            let entry = vec![Exit {
                from: node,
                label: Some(label.clone()),
                flow: Flow::Arm(node, k),
                lane: Some((node, k)),
            }];
            let mut column = Vec::new();
            let exits = self.block(
                &block.steps,
                &format!("{id}_{k}"),
                entry,
                &mut column,
                false,
            );
            out.extend(exits);
            columns.push(column);
        }
        shape.push(Shape::Fork(node, columns));
        out
    }

    /// The node's kind and label.
    fn describe(&self, step: &Step) -> (Kind, String) {
        match &step.kind {
            StepKind::Webhook(w) => {
                let method = w
                    .settings
                    .iter()
                    .find_map(|s| match s.node {
                        Setting::Method(m) => Some(m),
                        _ => None,
                    })
                    .unwrap_or(Method::Post);
                let host = w.url().map(host).unwrap_or_default();
                (
                    Kind::Webhook,
                    format!(
                        "{}\n{} {}",
                        clip(&w.name.node),
                        method.as_str(),
                        clip(&host)
                    ),
                )
            }
            StepKind::Tag { op, name } => {
                let op = match op {
                    TagOp::Add => "tag add",
                    TagOp::Remove => "tag remove",
                };
                (Kind::Tag, format!("{op} {}", clip(self.text(name.span))))
            }
            StepKind::FieldSet(set) => (
                Kind::FieldSet,
                format!(
                    "field set [{}]\n= {}",
                    clip(&set.field.node),
                    clip(&collapse_space(self.text(set.value.span())))
                ),
            ),
            StepKind::Note(text) => (Kind::Note, format!("note {}", clip(self.text(text.span)))),
            StepKind::Wait(Wait::For(_)) | StepKind::Wait(Wait::Until(_)) => (
                Kind::Wait,
                clip(&collapse_space(self.text(step.span))).into_owned(),
            ),
            StepKind::If(chain) => {
                let label = match chain.branches.len() {
                    1 => "if".to_string(),
                    n => format!("if ({n} conditions)"),
                };
                (Kind::If, label)
            }
            StepKind::Split(split) => (
                Kind::Split,
                format!(
                    "split {}% / {}%",
                    split.percent.node,
                    100 - u32::from(split.percent.node)
                ),
            ),
            StepKind::Stop => (Kind::Stop, "stop".into()),
            StepKind::Goal(goal) => (
                Kind::Goal,
                format!(
                    "goal {}\nwhen {}",
                    clip(&goal.name.node),
                    clip(&collapse_space(self.text(goal.cond.span())))
                ),
            ),
        }
    }
}

fn trigger_label(trigger: &Trigger, source: &SourceFile) -> String {
    let text = |span: Span| source.text.get(span.range()).unwrap_or("").to_string();
    match trigger {
        Trigger::ContactAdded => "trigger\ncontact_added".into(),
        Trigger::TagAdded(tag) => format!("trigger tag_added\n{}", clip(&text(tag.span))),
        Trigger::WebhookReceived { path, .. } => {
            format!("trigger webhook_received\n{}", clip(&text(path.span)))
        }
    }
}

/// The host of a webhook's URL as the sender reads it (the `url` crate,
/// through [`url_template`], never a scanner of our own): no credentials,
/// and `dynamic host` when a merge picks it.
fn host(url: &Template) -> String {
    match url_template::analyse(&url_template::pieces(url)) {
        Ok(layout) => layout.host().unwrap_or_else(|| "dynamic host".into()),
        Err(_) => "invalid URL".into(),
    }
}

/// Runs of white space (line breaks too) as one space.
fn collapse_space(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to [`LABEL_CHARS`] characters, ending in `…` when cut, with
/// control characters written as `\u{7}`: a label's only line breaks are
/// the ones the graph puts between its parts, and no output format has to
/// carry a raw control character.
pub(crate) fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    let text: std::borrow::Cow<'_, str> = if text.chars().any(char::is_control) {
        let mut out = String::new();
        for c in text.chars() {
            if c.is_control() {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            } else {
                out.push(c);
            }
        }
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    match text.char_indices().nth(LABEL_CHARS) {
        None => text,
        Some((at, _)) => {
            let at = text[..at]
                .char_indices()
                .nth(LABEL_CHARS - 1)
                .map_or(at, |(i, _)| i);
            std::borrow::Cow::Owned(format!("{}…", &text[..at]))
        }
    }
}

impl Graph {
    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

impl NodeCounts {
    /// The counts as a box shows them: `12 entered · 3 waiting · 1 failed`
    /// (zeros other than `entered` left out).
    pub fn summary(&self) -> String {
        let mut out = format!("{} entered", self.entered);
        if let Some(met) = self.met {
            out.push_str(&format!(" · {met} met"));
        }
        if self.waiting > 0 {
            out.push_str(&format!(" · {} waiting", self.waiting));
        }
        if self.failed > 0 {
            out.push_str(&format!(" · {} failed", self.failed));
        }
        out
    }
}

impl Node {
    /// The label with the counts' line, if counted.
    pub fn label_with_counts(&self) -> String {
        match &self.counts {
            Some(c) => format!("{}\n{}", self.label, c.summary()),
            None => self.label.clone(),
        }
    }
}

impl Edge {
    /// The label with the count, if counted: `[Country] == "US" · 12`.
    pub fn label_with_count(&self) -> Option<String> {
        match (&self.label, self.count) {
            (Some(l), Some(c)) => Some(format!("{l} · {c}")),
            (Some(l), None) => Some(l.clone()),
            (None, Some(c)) => Some(c.to_string()),
            (None, None) => None,
        }
    }
}
