//! Contacts on the picture: a [`Trace`] that counts what the VM does per
//! instruction during a dry run, and the arithmetic that turns those pc
//! counts into counts per node and edge.
//!
//! The compiler emits each step's instructions in source order, every one
//! with a span inside the step's, so a step's first instruction is found by
//! walking the steps and the code side by side; an `if` branch's decision
//! is its `PopJumpIfFalse` (spanned with the condition): the contacts that
//! fell through took the branch, the ones that jumped went on to the next.

use std::collections::HashMap;

use crate::compile::instructions::{Instruction, Program};
use crate::graph::model::{Flow, Graph, Kind, NodeCounts, StepRef, Totals};
use crate::span::Span;
use crate::syntax::ast::StepKind;
use crate::vm::Trace;

/// What a dry run did, per instruction of the main code.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    visits: Vec<u64>,
    jumps: Vec<u64>,
    fails: Vec<u64>,
    met: Vec<u64>,
    pulls: HashMap<(u32, u32), u64>,
    last: u32,
}

impl Counter {
    /// A counter sized for `program`.
    pub fn new(program: &Program) -> Counter {
        let n = program.code.len();
        Counter {
            visits: vec![0; n],
            jumps: vec![0; n],
            fails: vec![0; n],
            met: vec![0; program.goals.len()],
            pulls: HashMap::new(),
            last: 0,
        }
    }

    /// Contacts that entered (every run starts at pc 0).
    pub fn contacts(&self) -> u64 {
        Counter::at(&self.visits, 0)
    }

    fn at(v: &[u64], pc: u32) -> u64 {
        v.get(pc as usize).copied().unwrap_or(0)
    }
}

impl Trace for Counter {
    #[inline]
    fn visit(&mut self, pc: u32) {
        if let Some(v) = self.visits.get_mut(pc as usize) {
            *v += 1;
        }
        self.last = pc;
    }

    #[inline]
    fn jumped(&mut self, pc: u32) {
        if let Some(v) = self.jumps.get_mut(pc as usize) {
            *v += 1;
        }
    }

    fn pulled(&mut self, from: u32, goal: u32) {
        *self.pulls.entry((from, goal)).or_default() += 1;
    }

    fn reached(&mut self, goal: u32) {
        if let Some(v) = self.met.get_mut(goal as usize) {
            *v += 1;
        }
    }

    fn failed(&mut self) {
        if let Some(v) = self.fails.get_mut(self.last as usize) {
            *v += 1;
        }
    }
}

/// The program does not have the shape the compiler gives a campaign's
/// steps (a bug): the counts would be wrong, so there are none.
#[derive(Debug, thiserror::Error)]
#[error("cannot find the instructions of step {0} (a bug; please report it)")]
pub struct ShapeError(pub String);

/// Where a step node's contacts are counted.
#[derive(Debug, Clone, Copy, Default)]
struct Pcs {
    /// Its first instruction.
    entry: u32,
    /// Waits: the `Wait`/`WaitUntil`, where goal checks happen. Splits:
    /// the `PopJumpIfFalse`. Goals: the `Goal`.
    at: u32,
}

/// Puts `counter`'s counts on `graph`'s nodes and edges. `steps` are the
/// graph's step nodes in source order, as [`super::model::build`] listed them.
pub(crate) fn attribute(
    graph: &mut Graph,
    steps: &[StepRef<'_>],
    program: &Program,
    counter: &Counter,
    totals: Totals,
) -> Result<(), ShapeError> {
    let code = &program.code;
    let done = code
        .iter()
        .position(|i| *i == Instruction::Done)
        .ok_or_else(|| ShapeError("end".into()))? as u32;
    let within = |pc: u32, span: Span| {
        let s = program.span_at(pc as usize);
        s.start >= span.start && s.end <= span.end
    };
    // Node index -> its pcs; if node index -> its branches' jumps.
    let mut pcs: HashMap<usize, Pcs> = HashMap::new();
    let mut branch_jumps: HashMap<usize, Vec<u32>> = HashMap::new();
    let mut cursor = 0u32;
    for s in steps {
        let step = s.step;
        let find = |from: u32, ok: &dyn Fn(u32) -> bool| (from..done).find(|&pc| ok(pc));
        let entry = find(cursor, &|pc| within(pc, step.span))
            .ok_or_else(|| ShapeError(graph.nodes[s.node].id.clone()))?;
        cursor = entry;
        let missing = || ShapeError(graph.nodes[s.node].id.clone());
        let at = match &step.kind {
            StepKind::Wait(_) => find(entry, &|pc| {
                matches!(
                    code[pc as usize],
                    Instruction::Wait(_) | Instruction::WaitUntil
                ) && program.span_at(pc as usize) == step.span
            })
            .ok_or_else(missing)?,
            StepKind::Goal(_) => find(entry, &|pc| {
                matches!(code[pc as usize], Instruction::Goal(_))
            })
            .ok_or_else(missing)?,
            StepKind::Split(_) => find(entry, &|pc| {
                matches!(code[pc as usize], Instruction::PopJumpIfFalse(_))
                    && program.span_at(pc as usize) == step.keyword
            })
            .ok_or_else(missing)?,
            StepKind::If(chain) => {
                let mut from = entry;
                let mut jumps = Vec::new();
                for branch in &chain.branches {
                    let pc = find(from, &|pc| {
                        matches!(code[pc as usize], Instruction::PopJumpIfFalse(_))
                            && program.span_at(pc as usize) == branch.cond.span()
                    })
                    .ok_or_else(missing)?;
                    jumps.push(pc);
                    from = pc;
                }
                branch_jumps.insert(s.node, jumps);
                entry
            }
            _ => entry,
        };
        pcs.insert(s.node, Pcs { entry, at });
    }

    // Failures, by the innermost step whose span holds the failing
    // instruction's; outside every step: entering (the first goal check).
    let mut failed: HashMap<usize, u64> = HashMap::new();
    let start = graph.nodes.iter().position(|n| n.kind == Kind::Start);
    for (pc, &n) in counter.fails.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let span = program.span_at(pc);
        let owner = steps
            .iter()
            .filter(|s| s.step.span.start <= span.start && span.end <= s.step.span.end)
            .max_by_key(|s| s.step.span.start)
            .map(|s| s.node)
            .or(start);
        if let Some(owner) = owner {
            *failed.entry(owner).or_default() += n;
        }
    }

    // Where each goal check happens: start at pc 0, a wait at its wait.
    let check_pc = |node: usize| -> Option<u32> {
        match graph.nodes[node].kind {
            Kind::Start => Some(0),
            Kind::Wait => pcs.get(&node).map(|p| p.at),
            _ => None,
        }
    };
    let pulled = |from: u32, goal: usize| {
        counter
            .pulls
            .get(&(from, goal as u32))
            .copied()
            .unwrap_or(0)
    };
    let pulled_out = |from: u32| -> u64 {
        counter
            .pulls
            .iter()
            .filter(|((f, _), _)| *f == from)
            .map(|(_, n)| n)
            .sum()
    };

    let mut counts: Vec<Option<NodeCounts>> = vec![None; graph.nodes.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        let mut c = NodeCounts {
            failed: failed.get(&i).copied().unwrap_or(0),
            ..NodeCounts::default()
        };
        match node.kind {
            Kind::Trigger | Kind::Block | Kind::Section | Kind::Outside => continue,
            Kind::Start => c.entered = Counter::at(&counter.visits, 0),
            Kind::End => {
                c.entered = Counter::at(&counter.visits, done);
                c.ended = c.entered;
            }
            Kind::Goal => {
                let s = steps.iter().find(|s| s.node == i);
                let goal = s.and_then(|s| s.goal).unwrap_or(0);
                let p = pcs.get(&i).copied().unwrap_or_default();
                let pulled_in: u64 = counter
                    .pulls
                    .iter()
                    .filter(|((_, g), _)| *g as usize == goal)
                    .map(|(_, n)| n)
                    .sum();
                c.entered = Counter::at(&counter.visits, p.at) + pulled_in;
                c.met = Some(counter.met.get(goal).copied().unwrap_or(0) + pulled_in);
            }
            _ => {
                let p = pcs.get(&i).copied().unwrap_or_default();
                c.entered = Counter::at(&counter.visits, p.entry);
                if node.kind == Kind::Stop {
                    c.ended = c.entered - c.failed;
                }
            }
        }
        counts[i] = Some(c);
    }

    for edge in &mut graph.edges {
        let count = match edge.flow {
            Flow::Trigger | Flow::Summed => None,
            Flow::Left(n) => counts[n].map(|c| {
                let out = check_pc(n).map_or(0, pulled_out);
                c.entered - c.failed - c.ended - c.waiting - out
            }),
            Flow::Arm(n, k) => {
                let fall =
                    |pc: u32| Counter::at(&counter.visits, pc) - Counter::at(&counter.jumps, pc);
                let jumped = |pc: u32| Counter::at(&counter.jumps, pc);
                match graph.nodes[n].kind {
                    Kind::Split => pcs
                        .get(&n)
                        .map(|p| if k == 0 { fall(p.at) } else { jumped(p.at) }),
                    _ => branch_jumps.get(&n).and_then(|j| match j.get(k) {
                        Some(&pc) => Some(fall(pc)),
                        // The `else` block.
                        None => j.last().map(|&pc| jumped(pc)),
                    }),
                }
            }
            Flow::Otherwise(n) => branch_jumps
                .get(&n)
                .and_then(|j| j.last())
                .map(|&pc| Counter::at(&counter.jumps, pc)),
            Flow::Pull(n, goal) => check_pc(n).map(|pc| pulled(pc, goal)),
        };
        edge.count = count;
    }
    for edge in &graph.edges {
        if let (Some(c), Some(n)) = (&mut counts[edge.ends.0], edge.count) {
            c.left += n;
        }
    }
    for (node, c) in graph.nodes.iter_mut().zip(counts) {
        node.counts = c;
    }
    graph.contacts = Some(totals);
    Ok(())
}
