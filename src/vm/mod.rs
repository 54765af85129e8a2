//! The virtual machine: runs a [`Program`] for one contact at a time.
//!
//! The VM does no I/O. [`Vm::next`] runs until the contact does something
//! visible and returns it as an [`Event`]; the driver (a dry run that records
//! events, or the HTTP sender) handles it and calls `next` again. A contact's
//! whole position lives in [`Run`], so a driver can pause, persist and resume
//! it; the [`Vm`] only holds reusable buffers.

pub mod filters;
pub mod tags;
pub mod value;

use std::borrow::Cow;

use crate::compile::instructions::{Constant, Escape, FieldId, Instruction, Program, Target};
use crate::contacts::Contact;
use crate::diagnostics::codes;
use crate::encode;
use crate::filters::parse_date;
use crate::span::Span;
use crate::url_template::{PathPiece, UrlShape, Violation};
use filters::{FilterError, MAX_VALUE_BYTES};
use tags::Tags;
use value::{compare, Value};

/// Where one contact stands in the campaign.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The contact's data; `field set` and captures change it. Its `tags`
    /// are not used: the run's tags are in [`Run::tags`].
    pub contact: Contact,
    /// The contact's tags as the run goes: `tag add`/`tag remove` and
    /// `field set [Tags]` change them.
    pub tags: Tags,
    /// The next instruction.
    pub pc: u32,
    /// Virtual milliseconds since the contact entered.
    pub clock_ms: u64,
    /// Unix seconds at which the contact entered (the dry run's `--now`).
    pub entered_at: i64,
    /// Set after a wait: goals ahead of this pc are checked before going on.
    pub check_goals_after: Option<u32>,
    /// The run has ended (done, stopped or failed).
    pub finished: bool,
}

impl Run {
    /// A run at the start of the campaign.
    pub fn new(mut contact: Contact, entered_at: i64) -> Run {
        let tags = Tags::from_list(std::mem::take(&mut contact.tags));
        Run {
            contact,
            tags,
            entered_at,
            ..Run::default()
        }
    }

    /// Resets for another contact, keeping allocations.
    pub fn restart(&mut self, contact: &Contact, entered_at: i64) {
        // Field by field: a derived `clone_from` would rebuild every string,
        // while these reuse the previous contact's buffers.
        self.contact.id.clone_from(&contact.id);
        self.contact.row = contact.row;
        self.contact.fields.clone_from(&contact.fields);
        self.tags.reset_from(&contact.tags);
        self.pc = 0;
        self.clock_ms = 0;
        self.entered_at = entered_at;
        self.check_goals_after = None;
        self.finished = false;
    }
}

/// A request built for a webhook; names and settings are in
/// `program.webhooks[webhook]`.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Index into `program.webhooks`.
    pub webhook: u32,
    /// The merged URL.
    pub url: String,
    /// Header values, in the order of the webhook's header names.
    pub header_values: Vec<String>,
    /// The body (empty when the webhook has none).
    pub body: String,
}

/// Something a contact did, in order.
#[derive(Debug)]
pub enum Event<'a> {
    /// Send this request.
    Webhook(&'a Request),
    /// A tag was added.
    TagAdd(&'a str),
    /// A tag was removed.
    TagRemove(&'a str),
    /// A field was set.
    FieldSet {
        /// The field's name.
        field: &'a str,
        /// Its new value.
        value: &'a str,
    },
    /// A note was written.
    Note(&'a str),
    /// The contact waited this long (the clock has already moved).
    Wait {
        /// Milliseconds waited.
        millis: u64,
    },
    /// The contact reached a goal.
    Goal(&'a str),
    /// The contact hit `stop`.
    Stop,
    /// The contact's run failed; it does nothing more.
    Error(RuntimeError),
    /// The contact reached the end.
    Done,
}

/// A per-contact failure.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeError {
    /// Stable code, e.g. `campaign::run::filter` (listed in
    /// [`crate::diagnostics::codes`]).
    pub code: &'static str,
    /// What went wrong, for this contact.
    pub message: String,
    /// The step or merge at fault.
    pub span: Span,
}

/// How `secret("NAME")` is merged.
#[derive(Debug, Clone)]
pub enum Secrets {
    /// Every secret shows as `***`: a dry run needs none of them set.
    Masked,
    /// Real values, indexed like `program.secrets`; shared by every worker.
    Values(std::sync::Arc<Vec<String>>),
}

/// A window on the VM's path through the code, for tools that count where
/// contacts go (`campaign graph --contacts`). Every method does nothing by
/// default; the VM is generic over its tracer, so the default `()` compiles
/// to the loop without a hook.
pub trait Trace {
    /// The instruction at `pc` of the main code is about to run (goal
    /// condition routines are not reported).
    #[inline(always)]
    fn visit(&mut self, _pc: u32) {}
    /// The jump instruction at `pc` (just visited) jumped.
    #[inline(always)]
    fn jumped(&mut self, _pc: u32) {}
    /// A goal check at `from` (the pc of `CheckGoals` or of the wait the
    /// contact stands at) pulled the contact to goal `goal`.
    #[inline(always)]
    fn pulled(&mut self, _from: u32, _goal: u32) {}
    /// The contact walked onto goal `goal` and its condition held.
    #[inline(always)]
    fn reached(&mut self, _goal: u32) {}
    /// The contact's run failed at the last visited pc.
    #[inline(always)]
    fn failed(&mut self) {}
}

impl Trace for () {}

/// Reusable buffers for running a program; one per worker.
pub struct Vm<'p, T: Trace = ()> {
    trace: T,
    program: &'p Program,
    secrets: Secrets,
    stack: Vec<Value<'static>>,
    scratch: String,
    request: Request,
    target: Target,
    tags_field: Option<FieldId>,
    id_field: Option<FieldId>,
    split_salt: u64,
    /// Bytes each merge added to the URL being built, in order.
    url_merge_lens: Vec<usize>,
}

/// Result of running pure instructions.
enum Flow {
    Next,
    Jump(u32),
}

impl<'p> Vm<'p> {
    /// A VM for `program`.
    pub fn new(program: &'p Program, secrets: Secrets) -> Vm<'p> {
        Vm::with_trace(program, secrets, ())
    }

    /// Stores a captured value into a field (response capture).
    pub fn set_field(run: &mut Run, field: FieldId, value: &str) {
        if let Some(slot) = run.contact.fields.get_mut(field as usize) {
            let text = slot.get_or_insert_with(String::new);
            text.clear();
            text.push_str(value);
        }
    }
}

impl<'p, T: Trace> Vm<'p, T> {
    /// A VM for `program` that reports its path to `trace`.
    pub fn with_trace(program: &'p Program, secrets: Secrets, trace: T) -> Vm<'p, T> {
        let headers = program
            .webhooks
            .iter()
            .map(|w| w.headers.len())
            .max()
            .unwrap_or(0);
        Vm {
            trace,
            program,
            secrets,
            stack: Vec::new(),
            scratch: String::new(),
            request: Request {
                header_values: vec![String::new(); headers],
                ..Request::default()
            },
            target: Target::Scratch,
            tags_field: program.field_id("Tags"),
            id_field: program.field_id("Contact ID"),
            split_salt: fnv1a(FNV_OFFSET, program.name.as_bytes()),
            url_merge_lens: Vec::new(),
        }
    }

    /// The program being run.
    pub fn program(&self) -> &'p Program {
        self.program
    }

    /// The tracer, with what it has seen.
    pub fn trace(&self) -> &T {
        &self.trace
    }

    /// The tracer, taken back.
    pub fn into_trace(self) -> T {
        self.trace
    }

    /// Runs until the contact's next visible event.
    pub fn next<'s>(&'s mut self, run: &'s mut Run) -> Event<'s> {
        if run.finished {
            return Event::Done;
        }
        if let Some(after) = run.check_goals_after.take() {
            match self.goal_ahead(run, after) {
                Ok(Some(goal)) => {
                    self.trace.pulled(after, goal as u32);
                    return self.reach_goal(run, goal);
                }
                Ok(None) => {}
                Err(e) => return self.fail(run, e),
            }
        }
        let code = &self.program.code;
        loop {
            let pc = run.pc as usize;
            let Some(&ins) = code.get(pc) else {
                run.finished = true;
                return Event::Done;
            };
            run.pc += 1;
            self.trace.visit(pc as u32);
            match ins {
                Instruction::Webhook(id) => {
                    self.request.webhook = id;
                    let info = match self.table(&self.program.webhooks, id, "webhook", pc) {
                        Ok(info) => info,
                        Err(e) => return self.fail(run, e),
                    };
                    if !info.has_body {
                        self.request.body.clear();
                    }
                    if let Some(shape) = &info.url_shape {
                        let lens = &self.url_merge_lens;
                        let len = |i: usize| lens.get(i).copied().unwrap_or(0);
                        match shape.check(&self.request.url, Some(&len)) {
                            // Sent as the parser serializes it, so show that.
                            Ok(url) if url.as_str() != self.request.url => {
                                self.request.url.clear();
                                self.request.url.push_str(url.as_str());
                            }
                            Ok(_) => {}
                            Err(violation) => {
                                let (code, message) =
                                    describe_violation(&violation, shape, &self.request.url);
                                return self.fail(run, self.error(code, pc, message));
                            }
                        }
                    }
                    return Event::Webhook(&self.request);
                }
                Instruction::TagAdd | Instruction::TagRemove => {
                    if self.scratch.trim().is_empty() {
                        let e = self.error(
                            codes::RUN_EMPTY_TAG,
                            pc,
                            "the tag name merged to nothing".into(),
                        );
                        return self.fail(run, e);
                    }
                    let tag = self.scratch.trim();
                    if ins == Instruction::TagAdd {
                        run.tags.insert(tag);
                        return Event::TagAdd(tag);
                    }
                    run.tags.remove(tag);
                    return Event::TagRemove(tag);
                }
                Instruction::FieldSet(field) => {
                    let name = match self.table(&self.program.fields, field, "field", pc) {
                        Ok(name) => name,
                        Err(e) => return self.fail(run, e),
                    };
                    let value = self.pop();
                    if Some(field) == self.tags_field {
                        // `Tags` is the tag list: setting it replaces the tags.
                        let text = value.to_text();
                        run.tags.reset_to(text.split(',').map(str::trim));
                    }
                    // A contact built by hand may have fewer fields than
                    // the program names; the missing ones were empty.
                    let fields = &mut run.contact.fields;
                    if fields.len() <= field as usize {
                        fields.resize(field as usize + 1, None);
                    }
                    let text = fields[field as usize].get_or_insert_with(String::new);
                    text.clear();
                    value.write_text(text);
                    return Event::FieldSet {
                        field: name,
                        value: text,
                    };
                }
                Instruction::Note => return Event::Note(&self.scratch),
                Instruction::Wait(d) => {
                    let millis = match self.table(&self.program.durations, d, "duration", pc) {
                        Ok(&millis) => millis,
                        Err(e) => return self.fail(run, e),
                    };
                    run.clock_ms = run.clock_ms.saturating_add(millis);
                    run.check_goals_after = Some(pc as u32);
                    return Event::Wait { millis };
                }
                Instruction::WaitUntil => {
                    let target = match self.pop() {
                        Value::Empty => None,
                        Value::Text(t) if t.trim().is_empty() => None,
                        Value::Number(n) => Some(n as i64),
                        Value::Text(t) => match parse_date(&t) {
                            Some(secs) => Some(secs),
                            None => {
                                let message =
                                    format!("`wait until` cannot read {:?} as a date", clip(&t));
                                return self.fail(run, self.error(codes::RUN_DATE, pc, message));
                            }
                        },
                        Value::Bool(_) => None,
                    };
                    let Some(target) = target else {
                        // An empty date field skips the wait, as a Campaign Builder date wait does.
                        continue;
                    };
                    let now_ms = run
                        .entered_at
                        .saturating_mul(1000)
                        .saturating_add(run.clock_ms as i64);
                    let millis = target.saturating_mul(1000).saturating_sub(now_ms).max(0) as u64;
                    run.clock_ms = run.clock_ms.saturating_add(millis);
                    run.check_goals_after = Some(pc as u32);
                    return Event::Wait { millis };
                }
                Instruction::CheckGoals(after) => match self.goal_ahead(run, after) {
                    Ok(Some(goal)) => {
                        self.trace.pulled(pc as u32, goal as u32);
                        return self.reach_goal(run, goal);
                    }
                    Ok(None) => {}
                    Err(e) => return self.fail(run, e),
                },
                Instruction::Goal(g) => {
                    let info = match self.table(&self.program.goals, g, "goal", pc) {
                        Ok(info) => info,
                        Err(e) => return self.fail(run, e),
                    };
                    match self.eval_routine(run, info.cond_pc) {
                        Ok(true) => {
                            self.trace.reached(g);
                            return Event::Goal(&info.name);
                        }
                        Ok(false) => {}
                        Err(e) => return self.fail(run, e),
                    }
                }
                Instruction::Stop => {
                    run.finished = true;
                    return Event::Stop;
                }
                Instruction::Done | Instruction::Return => {
                    run.finished = true;
                    return Event::Done;
                }
                // Most of a webhook's instructions: run here rather than
                // through a call to `pure`, whose frame costs more than they do.
                Instruction::Begin(target) => self.begin(target),
                Instruction::EmitText(t) => {
                    if let Err(e) = self.emit_text(t, pc) {
                        return self.fail(run, e);
                    }
                }
                Instruction::EmitMerge(m) => {
                    if let Err(e) = self.emit_merge(run, m, pc) {
                        return self.fail(run, e);
                    }
                }
                pure => match self.pure(run, pure, pc) {
                    Ok(Flow::Next) => {}
                    Ok(Flow::Jump(t)) => {
                        self.trace.jumped(pc as u32);
                        run.pc = t;
                    }
                    Err(e) => return self.fail(run, e),
                },
            }
        }
    }

    /// For a contact parked at a wait: whether a goal ahead of the wait
    /// holds now, and if so moves the contact to it (the `Goal` event).
    /// `None` leaves the run as it was, still waiting. Live goals need this:
    /// a tag that lands during a wait pulls the contact forward at once, not
    /// when the wait ends.
    pub fn pull_forward<'s>(&'s mut self, run: &'s mut Run) -> Option<Event<'s>> {
        let after = run.check_goals_after?;
        match self.goal_ahead(run, after) {
            Ok(Some(goal)) => {
                run.check_goals_after = None;
                self.trace.pulled(after, goal as u32);
                Some(self.reach_goal(run, goal))
            }
            Ok(None) => None,
            Err(e) => Some(self.fail(run, e)),
        }
    }

    /// Goes on after goal `goal` (an index into `program.goals`), which the
    /// contact has just reached.
    fn reach_goal(&mut self, run: &mut Run, goal: usize) -> Event<'p> {
        let program = self.program;
        let info = &program.goals[goal];
        // A goal behind the contact would run steps again, for ever.
        match info.pc.checked_add(1).filter(|&next| next >= run.pc) {
            Some(next) => {
                run.pc = next;
                Event::Goal(&info.name)
            }
            None => {
                let message = format!("goal {goal} is at pc {}, behind the contact", info.pc);
                let e = self.invalid(run.pc as usize, message);
                self.fail(run, e)
            }
        }
    }

    /// Entry `i` of one of the program's tables; a compiled program only
    /// names entries it has, a hand-built or deserialized one may not.
    fn table<'t, U>(
        &self,
        table: &'t [U],
        i: u32,
        what: &str,
        pc: usize,
    ) -> Result<&'t U, RuntimeError> {
        table.get(i as usize).ok_or_else(|| {
            let len = table.len();
            self.invalid(pc, format!("the instruction names {what} {i} of {len}"))
        })
    }

    /// The program is not one the compiler makes: stop this contact rather
    /// than panic or loop.
    #[cold]
    fn invalid(&self, pc: usize, message: String) -> RuntimeError {
        self.error(
            codes::RUN_INVALID_PROGRAM,
            pc,
            format!("invalid program at pc {pc}: {message}"),
        )
    }

    fn fail<'s>(&mut self, run: &mut Run, error: RuntimeError) -> Event<'s> {
        self.trace.failed();
        run.finished = true;
        self.stack.clear();
        Event::Error(error)
    }

    #[cold]
    fn error(&self, code: &'static str, pc: usize, message: String) -> RuntimeError {
        RuntimeError {
            code,
            message,
            span: self.program.span_at(pc),
        }
    }

    fn pop(&mut self) -> Value<'static> {
        self.stack.pop().unwrap_or(Value::Empty)
    }

    fn pop_bool(&mut self) -> bool {
        matches!(self.pop(), Value::Bool(true))
    }

    /// The first goal after `after` whose condition holds now.
    fn goal_ahead(&mut self, run: &Run, after: u32) -> Result<Option<usize>, RuntimeError> {
        for (i, goal) in self.program.goals.iter().enumerate() {
            if goal.pc > after && self.eval_routine(run, goal.cond_pc)? {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Runs a goal's condition routine to its `Return`.
    fn eval_routine(&mut self, run: &Run, start: u32) -> Result<bool, RuntimeError> {
        let mut pc = start as usize;
        while let Some(&ins) = self.program.code.get(pc) {
            if ins == Instruction::Return {
                return Ok(self.pop_bool());
            }
            pc = match self.pure(run, ins, pc)? {
                Flow::Next => pc + 1,
                Flow::Jump(t) => t as usize,
            };
        }
        Ok(false)
    }

    /// `Begin(target)`: text goes to `target` from now on, which starts
    /// empty.
    #[inline]
    fn begin(&mut self, target: Target) {
        self.target = target;
        self.buffer().clear();
        if target == Target::Url {
            self.url_merge_lens.clear();
        }
    }

    /// `EmitText(t)`: constant text `t` to the current target.
    #[inline]
    fn emit_text(&mut self, t: u32, pc: usize) -> Result<(), RuntimeError> {
        let text = self.table(&self.program.texts, t, "text", pc)?;
        self.buffer().push_str(text);
        self.check_size(pc, 0)
    }

    /// `EmitMerge(m)`: merge site `m`, escaped for its context, to the
    /// current target. A function of its own, called from [`Vm::next`] as
    /// well as [`Vm::pure`]: it needs a smaller frame than `pure`'s.
    fn emit_merge(&mut self, run: &Run, m: u32, pc: usize) -> Result<(), RuntimeError> {
        let site = self.table(&self.program.merges, m, "merge", pc)?;
        let value = self.merge(run, m, pc)?;
        let text = value.to_text();
        let escape = site.escape;
        if escape == Escape::Header && !encode::header_value_is_safe(&text) {
            let field = self.field_name(site.field);
            return Err(if text.contains(['\r', '\n', '\0']) {
                self.error(
                    codes::RUN_HEADER_NEWLINE,
                    pc,
                    format!("field [{field}] holds a line break or NUL, which cannot go in a header; nothing was sent for this step"),
                )
            } else {
                self.error(
                    codes::RUN_HEADER_CONTROL,
                    pc,
                    format!("field [{field}] holds a control character, which cannot go in a header; nothing was sent for this step"),
                )
            });
        }
        if escape == Escape::Host && !is_host_text(&text) {
            return Err(self.error(
                codes::RUN_URL,
                pc,
                format!(
                    "field [{}] holds {:?}, which is not a host name; nothing was sent for this step",
                    self.field_name(site.field),
                    clip(&text)
                ),
            ));
        }
        // Every escape writes at least a byte per byte: most texts
        // too large for the buffer are caught before they are copied.
        self.check_size(pc, text.len())?;
        let out = buffer_of(self.target, &mut self.scratch, &mut self.request);
        let before = out.len();
        match escape {
            Escape::Text | Escape::Raw | Escape::Header | Escape::Host => out.push_str(&text),
            Escape::Form => encode::form_urlencode_into(out, &text),
            Escape::Url => encode::url_component_into(out, &text),
            Escape::Json => encode::json_string_into(out, &text),
        }
        if self.target == Target::Url {
            let added = out.len() - before;
            self.url_merge_lens.push(added);
        }
        self.check_size(pc, 0)
    }

    /// Instructions with no visible effect: text building and conditions.
    fn pure(&mut self, run: &Run, ins: Instruction, pc: usize) -> Result<Flow, RuntimeError> {
        match ins {
            Instruction::Begin(target) => self.begin(target),
            Instruction::EmitText(t) => self.emit_text(t, pc)?,
            Instruction::EmitMerge(m) => self.emit_merge(run, m, pc)?,
            Instruction::EmitJsonMerge(m) => {
                let raw = self.table(&self.program.merges, m, "merge", pc)?.escape == Escape::Raw;
                let value = self.merge(run, m, pc)?;
                let out = self.buffer_for(self.target);
                match value {
                    _ if raw => value.write_text(out),
                    Value::Number(n) if n.is_finite() => encode::write_number(out, n),
                    Value::Number(_) | Value::Empty => out.push_str("null"),
                    Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                    Value::Text(t) => {
                        out.push('"');
                        encode::json_string_into(out, &t);
                        out.push('"');
                    }
                }
                self.check_size(pc, 0)?;
            }
            Instruction::EmitSecret(s) => {
                let secret = match &self.secrets {
                    Secrets::Masked => "***",
                    Secrets::Values(values) => values.get(s as usize).map_or("", String::as_str),
                };
                buffer_of(self.target, &mut self.scratch, &mut self.request).push_str(secret);
                self.check_size(pc, 0)?;
            }
            Instruction::PushText => {
                let text = self.scratch.clone();
                self.stack.push(Value::Text(Cow::Owned(text)));
            }
            Instruction::PushMerge(m) => {
                let value = self.merge(run, m, pc)?.into_owned();
                self.stack.push(value);
            }
            Instruction::PushConst(c) => {
                let value = match self.table(&self.program.constants, c, "constant", pc)? {
                    Constant::Text(t) => Value::Text(Cow::Owned(t.clone())),
                    Constant::Number(n) => Value::Number(*n),
                    Constant::Bool(b) => Value::Bool(*b),
                    Constant::Timestamp(t) => Value::Number(*t as f64),
                };
                self.stack.push(value);
            }
            Instruction::Compare(op) => {
                let right = self.pop();
                let left = self.pop();
                self.stack.push(Value::Bool(compare(op, &left, &right)));
            }
            Instruction::IsEmpty => {
                let v = self.pop();
                self.stack.push(Value::Bool(v.is_empty()));
            }
            Instruction::Truthy => {
                let v = self.pop();
                self.stack.push(Value::Bool(truthy(&v)));
            }
            Instruction::HasTag => {
                let tag = self.pop();
                let tag = tag.to_text();
                let tag = tag.trim();
                let has = run.tags.contains(tag);
                self.stack.push(Value::Bool(has));
            }
            Instruction::Not => {
                let b = self.pop_bool();
                self.stack.push(Value::Bool(!b));
            }
            Instruction::JumpIfFalseOrPop(t) => {
                if matches!(self.stack.last(), Some(Value::Bool(true))) {
                    self.stack.pop();
                } else {
                    return self.jump(pc, t);
                }
            }
            Instruction::JumpIfTrueOrPop(t) => {
                if matches!(self.stack.last(), Some(Value::Bool(true))) {
                    return self.jump(pc, t);
                }
                self.stack.pop();
            }
            Instruction::PopJumpIfFalse(t) if !self.pop_bool() => return self.jump(pc, t),
            Instruction::PopJumpIfFalse(_) => {}
            Instruction::Jump(t) => return self.jump(pc, t),
            Instruction::Split(s) => {
                let percent = *self.table(&self.program.splits, s, "split", pc)?;
                let mut h = fnv1a(self.split_salt, &s.to_le_bytes());
                h = fnv1a(h, run.contact.id.as_bytes());
                self.stack.push(Value::Bool((h % 100) < u64::from(percent)));
            }
            _ => {}
        }
        Ok(Flow::Next)
    }

    /// A jump from `pc` to `target`. The compiler only jumps forwards, so
    /// every run ends; a jump back could loop for ever.
    fn jump(&self, pc: usize, target: u32) -> Result<Flow, RuntimeError> {
        if target as usize > pc {
            Ok(Flow::Jump(target))
        } else {
            Err(self.invalid(pc, format!("a jump back to pc {target}")))
        }
    }

    /// A field's name for a message; a merge site naming no field was
    /// already refused by [`Vm::merge`].
    fn field_name(&self, field: FieldId) -> &'p str {
        self.program
            .fields
            .get(field as usize)
            .map_or("?", String::as_str)
    }

    /// A merge site's value for this contact, filters applied.
    fn merge<'r>(&self, run: &'r Run, m: u32, pc: usize) -> Result<Value<'r>, RuntimeError> {
        let site = self.table(&self.program.merges, m, "merge", pc)?;
        let field = self.table(&self.program.fields, site.field, "field", pc)?;
        let too_large = |bytes: usize| {
            self.error(
                codes::RUN_TOO_LARGE,
                pc,
                format!("[{field}]: the merged value would be {bytes} bytes, over the 1 MiB limit"),
            )
        };
        // Measured before the tags are joined into one text.
        let bytes = self.field_len(run, site.field);
        if bytes > MAX_VALUE_BYTES {
            return Err(too_large(bytes));
        }
        let mut value = Value::Text(self.field_text(run, site.field));
        for filter in &site.filters {
            value = filters::apply(filter, value).map_err(|e| match e {
                FilterError::TooLarge(bytes) => too_large(bytes),
                FilterError::Unreadable(message) => {
                    self.error(codes::RUN_FILTER, pc, format!("[{field}]: {message}"))
                }
            })?;
        }
        Ok(value)
    }

    /// Bytes of [`Vm::field_text`], without building it.
    fn field_len(&self, run: &Run, field: FieldId) -> usize {
        if Some(field) == self.tags_field {
            return run
                .tags
                .iter()
                .map(|t| t.len() + 1)
                .sum::<usize>()
                .saturating_sub(1);
        }
        if Some(field) == self.id_field {
            return run.contact.id.len();
        }
        match run.contact.fields.get(field as usize) {
            Some(Some(text)) => text.len(),
            _ => 0,
        }
    }

    /// Fails if the text being built for the current target, with
    /// `adding` more bytes, would be past [`MAX_VALUE_BYTES`]; its buffer is
    /// then emptied and given back.
    /// Inlined, as it runs after every piece of text: the buffer's length
    /// is one load away when the size is within bounds.
    #[inline]
    fn check_size(&mut self, pc: usize, adding: usize) -> Result<(), RuntimeError> {
        let bytes = self.buffer().len().saturating_add(adding);
        if bytes <= MAX_VALUE_BYTES {
            return Ok(());
        }
        self.too_large(pc, bytes)
    }

    /// [`Vm::check_size`]'s failure.
    #[cold]
    fn too_large(&mut self, pc: usize, bytes: usize) -> Result<(), RuntimeError> {
        let target = self.target;
        *self.buffer_for(target) = String::new();
        let what = match target {
            Target::Scratch => "the text",
            Target::Url => "the URL",
            Target::Body => "the body",
            Target::Header(_) => "a header value",
        };
        Err(self.error(
            codes::RUN_TOO_LARGE,
            pc,
            format!("{what} would be over the 1 MiB limit after merging ({bytes} bytes or more)"),
        ))
    }

    fn field_text<'r>(&self, run: &'r Run, field: FieldId) -> Cow<'r, str> {
        if Some(field) == self.tags_field {
            return Cow::Owned(run.tags.joined());
        }
        if Some(field) == self.id_field {
            // The id the run reports: the trimmed `Contact ID`, else the row number.
            return Cow::Borrowed(&run.contact.id);
        }
        match run.contact.fields.get(field as usize) {
            Some(Some(text)) => Cow::Borrowed(text),
            _ => Cow::Borrowed(""),
        }
    }

    fn buffer(&mut self) -> &mut String {
        buffer_of(self.target, &mut self.scratch, &mut self.request)
    }

    fn buffer_for(&mut self, target: Target) -> &mut String {
        buffer_of(target, &mut self.scratch, &mut self.request)
    }
}

/// The buffer a target names; a free function so callers can borrow other
/// fields of the VM at the same time.
fn buffer_of<'b>(
    target: Target,
    scratch: &'b mut String,
    request: &'b mut Request,
) -> &'b mut String {
    match target {
        Target::Scratch => scratch,
        Target::Url => &mut request.url,
        Target::Body => &mut request.body,
        Target::Header(i) => {
            let i = i as usize;
            if request.header_values.len() <= i {
                request.header_values.resize(i + 1, String::new());
            }
            &mut request.header_values[i]
        }
    }
}

/// Whether a bare value in a condition counts as true: `true`, a non-zero
/// number, or text other than empty, `false`, `0`, `no` and `off`.
pub fn truthy(value: &Value<'_>) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => *n != 0.0,
        Value::Empty => false,
        Value::Text(t) => {
            let t = t.trim();
            !(t.is_empty()
                || t.eq_ignore_ascii_case("false")
                || t == "0"
                || t.eq_ignore_ascii_case("no")
                || t.eq_ignore_ascii_case("off"))
        }
    }
}

/// The code and message for a merged URL that lost what its template fixes.
#[cold]
fn describe_violation(
    violation: &Violation,
    shape: &UrlShape,
    url: &str,
) -> (&'static str, String) {
    match violation {
        Violation::Invalid(e) => (
            codes::RUN_URL,
            format!("the URL is not valid after merging ({e}): {url}"),
        ),
        Violation::Origin { expected, got } => (
            codes::RUN_URL_ORIGIN,
            format!("merged fields would move the request from `{expected}` to `{got}`; nothing was sent for this step"),
        ),
        Violation::NoHost => (
            codes::RUN_URL,
            format!("the merged host is empty: {url}"),
        ),
        Violation::Path => {
            let mut template = String::new();
            for piece in &shape.path {
                match piece {
                    PathPiece::Text(t) => template.push_str(t),
                    PathPiece::Merge { .. } => template.push_str("[…]"),
                }
            }
            (
                codes::RUN_URL,
                format!("a merged field changed the fixed part of the path `{template}` (a `.` or `..` segment, or a raw `?` or `#`), which would send the request elsewhere: {url}"),
            )
        }
    }
}

/// What a merged host may hold: letters, digits, `.`, `-`, a `:port`, and
/// the brackets of an IPv6 literal. Anything else could move the request.
fn is_host_text(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a: stable across versions and platforms, so a contact always takes
/// the same side of a split.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
