//! Lowers a checked campaign to a [`Program`]. Literal text is escaped here,
//! once, for the context it lands in; only merged text is escaped at run time.

use std::collections::HashMap;

use crate::compile::instructions::{self, *};
use crate::encode;
use crate::filters::{compile_filter, FilterOp};
use crate::span::Span;
use crate::syntax::ast::{self, *};
use crate::syntax::post::split_pairs;
use crate::url_template::{self, PathPiece, UrlShape};

/// Webhook defaults, documented in docs/language.md.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Retries after the first attempt.
pub const DEFAULT_RETRY: u32 = 3;
/// First retry delay.
pub const DEFAULT_BACKOFF_MS: u64 = 1_000;

/// Compiles a campaign that passed the checks. Problems the checks report
/// (unknown filters, say) are skipped here rather than reported twice.
pub fn generate(campaign: &Campaign) -> Program {
    let mut g = Codegen {
        program: Program {
            name: campaign.name.node.to_string(),
            triggers: Vec::new(),
            code: Vec::new(),
            spans: Vec::new(),
            fields: Vec::new(),
            texts: Vec::new(),
            constants: Vec::new(),
            merges: Vec::new(),
            secrets: Vec::new(),
            webhooks: Vec::new(),
            durations: Vec::new(),
            splits: Vec::new(),
            goals: Vec::new(),
        },
        field_ids: HashMap::new(),
        text_ids: HashMap::new(),
        pending: String::new(),
        pending_span: Span::default(),
        goal_conds: Vec::new(),
    };
    for t in &campaign.triggers {
        if let Some(trigger) = g.trigger(&t.node) {
            g.program.triggers.push(trigger);
        }
    }
    if has_goal(&campaign.steps) {
        g.emit(Instruction::CheckGoals(0), campaign.name.span);
    }
    g.steps(&campaign.steps);
    g.emit(Instruction::Done, campaign.span);
    for (index, cond) in std::mem::take(&mut g.goal_conds) {
        let pc = g.program.code.len() as u32;
        g.program.goals[index].cond_pc = pc;
        g.cond(cond.root());
        g.emit(Instruction::Return, cond.span());
    }
    g.program
}

fn has_goal(steps: &[Step]) -> bool {
    steps.iter().any(|s| matches!(s.kind, StepKind::Goal(_)))
}

struct Codegen {
    program: Program,
    field_ids: HashMap<String, FieldId>,
    text_ids: HashMap<String, u32>,
    /// Literal text not yet emitted, so neighbours join into one `EmitText`.
    pending: String,
    pending_span: Span,
    goal_conds: Vec<(usize, Cond)>,
}

impl Codegen {
    fn emit(&mut self, ins: Instruction, span: Span) -> usize {
        self.flush();
        self.program.code.push(ins);
        self.program.spans.push(span);
        self.program.code.len() - 1
    }

    fn pc(&self) -> u32 {
        self.program.code.len() as u32
    }

    fn patch(&mut self, at: usize) {
        let target = self.pc();
        match &mut self.program.code[at] {
            Instruction::JumpIfFalseOrPop(t)
            | Instruction::JumpIfTrueOrPop(t)
            | Instruction::PopJumpIfFalse(t)
            | Instruction::Jump(t) => *t = target,
            _ => {}
        }
    }

    /// Queues literal text (already escaped) for the current target.
    fn text(&mut self, text: &str, span: Span) {
        if self.pending.is_empty() {
            self.pending_span = span;
        } else {
            self.pending_span = self.pending_span.to(span);
        }
        self.pending.push_str(text);
    }

    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.pending);
        let id = match self.text_ids.get(&text) {
            Some(id) => *id,
            None => {
                let id = self.program.texts.len() as u32;
                self.program.texts.push(text.clone());
                self.text_ids.insert(text, id);
                id
            }
        };
        self.program.code.push(Instruction::EmitText(id));
        self.program.spans.push(self.pending_span);
    }

    fn field(&mut self, name: &str) -> FieldId {
        if let Some(id) = self.field_ids.get(name) {
            return *id;
        }
        let id = self.program.fields.len() as FieldId;
        self.program.fields.push(name.to_string());
        self.field_ids.insert(name.to_string(), id);
        id
    }

    fn constant(&mut self, c: Constant) -> u32 {
        self.program.constants.push(c);
        self.program.constants.len() as u32 - 1
    }

    fn merge_site(&mut self, merge: &Merge, escape: Escape) -> u32 {
        let field = self.field(&merge.field.node);
        let filters: Vec<FilterOp> = merge
            .filters()
            .iter()
            .filter_map(|f| compile_filter(f).ok())
            .collect();
        let raw = filters.iter().any(|f| matches!(f, FilterOp::Raw));
        let escape = if raw && !matches!(escape, Escape::Header | Escape::Host) {
            Escape::Raw
        } else {
            escape
        };
        self.program.merges.push(MergeSite {
            field,
            filters: filters
                .into_iter()
                .filter(|f| !matches!(f, FilterOp::Raw))
                .collect(),
            escape,
        });
        self.program.merges.len() as u32 - 1
    }

    /// Emits a template into the current target, escaping literal text now
    /// and merged text at run time.
    fn template(&mut self, template: &Template, escape: Escape) {
        for part in template.parts().iter() {
            self.part(part, escape);
        }
    }

    fn part(&mut self, part: &Part, escape: Escape) {
        match part {
            Part::Text(t) => {
                let mut escaped = String::new();
                escape_literal(&mut escaped, &t.node, escape);
                self.text(&escaped, t.span);
            }
            Part::Merge(m) => {
                let site = self.merge_site(m, escape);
                self.emit(Instruction::EmitMerge(site), m.span());
            }
        }
    }

    fn steps(&mut self, steps: &[Step]) {
        for step in steps {
            self.step(step);
        }
    }

    fn step(&mut self, step: &Step) {
        let span = step.keyword;
        match &step.kind {
            StepKind::Webhook(w) => self.webhook(w, step.span),
            StepKind::Tag { op, name } => {
                self.emit(Instruction::Begin(Target::Scratch), span);
                self.template(name, Escape::Text);
                let ins = match op {
                    TagOp::Add => Instruction::TagAdd,
                    TagOp::Remove => Instruction::TagRemove,
                };
                self.emit(ins, step.span);
            }
            StepKind::FieldSet(set) => {
                self.operand(&set.value);
                let id = self.field(&set.field.node);
                self.emit(Instruction::FieldSet(id), step.span);
            }
            StepKind::Note(text) => {
                self.emit(Instruction::Begin(Target::Scratch), span);
                self.template(text, Escape::Text);
                self.emit(Instruction::Note, step.span);
            }
            StepKind::Wait(Wait::For(d)) => {
                self.program.durations.push(d.node.millis);
                let id = self.program.durations.len() as u32 - 1;
                self.emit(Instruction::Wait(id), step.span);
            }
            StepKind::Wait(Wait::Until(target)) => {
                self.operand(target);
                self.emit(Instruction::WaitUntil, step.span);
            }
            StepKind::If(chain) => {
                let mut ends = Vec::new();
                for branch in &chain.branches {
                    self.cond(branch.cond.root());
                    let skip = self.emit(Instruction::PopJumpIfFalse(0), branch.cond.span());
                    self.steps(&branch.body.steps);
                    if chain.otherwise.is_some()
                        || !std::ptr::eq(branch, chain.branches.last().unwrap_or(branch))
                    {
                        ends.push(self.emit(Instruction::Jump(0), branch.body.span));
                    }
                    self.patch(skip);
                }
                if let Some(otherwise) = &chain.otherwise {
                    self.steps(&otherwise.steps);
                }
                for end in ends {
                    self.patch(end);
                }
            }
            StepKind::Split(split) => {
                self.program.splits.push(split.percent.node);
                let id = self.program.splits.len() as u32 - 1;
                self.emit(Instruction::Split(id), span);
                let skip = self.emit(Instruction::PopJumpIfFalse(0), span);
                self.steps(&split.first.steps);
                let end = self.emit(Instruction::Jump(0), split.first.span);
                self.patch(skip);
                self.steps(&split.otherwise.steps);
                self.patch(end);
            }
            StepKind::Stop => {
                self.emit(Instruction::Stop, step.span);
            }
            StepKind::Goal(goal) => {
                let index = self.program.goals.len();
                let pc = self.emit(Instruction::Goal(index as u32), step.span) as u32;
                self.program.goals.push(GoalInfo {
                    name: goal.name.node.to_string(),
                    pc,
                    cond_pc: 0,
                });
                self.goal_conds.push((index, goal.cond.clone()));
            }
        }
    }

    fn operand(&mut self, operand: &Operand) {
        match operand {
            Operand::Merge(m) => {
                let site = self.merge_site(m, Escape::Text);
                self.emit(Instruction::PushMerge(site), m.span());
            }
            Operand::Text(t) => match t.as_literal() {
                Some(text) => {
                    let c = self.constant(Constant::Text(text.into()));
                    self.emit(Instruction::PushConst(c), t.span);
                }
                None => {
                    self.emit(Instruction::Begin(Target::Scratch), t.span);
                    self.template(t, Escape::Text);
                    self.emit(Instruction::PushText, t.span);
                }
            },
            Operand::Number(n) => {
                let c = self.constant(Constant::Number(n.node));
                self.emit(Instruction::PushConst(c), n.span);
            }
            Operand::Bool(b) => {
                let c = self.constant(Constant::Bool(b.node));
                self.emit(Instruction::PushConst(c), b.span);
            }
            Operand::Timestamp(t) => {
                let c = self.constant(Constant::Timestamp(t.node));
                self.emit(Instruction::PushConst(c), t.span);
            }
        }
    }

    fn cond(&mut self, cond: CondRef<'_>) {
        let span = cond.span();
        match cond.kind() {
            CondKind::And(items) | CondKind::Or(items) => {
                let is_and = matches!(cond.kind(), CondKind::And(_));
                let mut exits = Vec::new();
                let mut items = items.peekable();
                while let Some(item) = items.next() {
                    self.cond(item);
                    if items.peek().is_some() {
                        let ins = if is_and {
                            Instruction::JumpIfFalseOrPop(0)
                        } else {
                            Instruction::JumpIfTrueOrPop(0)
                        };
                        exits.push(self.emit(ins, item.span()));
                    }
                }
                for exit in exits {
                    self.patch(exit);
                }
            }
            CondKind::Not(inner) => {
                self.cond(inner);
                self.emit(Instruction::Not, span);
            }
            CondKind::Compare { left, op, right } => {
                self.operand(left);
                self.operand(right);
                self.emit(Instruction::Compare(op.node), op.span);
            }
            CondKind::IsEmpty { operand, negated } => {
                self.operand(operand);
                self.emit(Instruction::IsEmpty, span);
                if negated {
                    self.emit(Instruction::Not, span);
                }
            }
            CondKind::HasTag(tag) => {
                self.emit(Instruction::Begin(Target::Scratch), tag.span);
                self.template(tag, Escape::Text);
                self.emit(Instruction::PushText, tag.span);
                self.emit(Instruction::HasTag, span);
            }
            CondKind::Truthy(operand) => {
                self.operand(operand);
                self.emit(Instruction::Truthy, span);
            }
        }
    }

    fn webhook(&mut self, w: &Webhook, span: Span) {
        let mut info = WebhookInfo {
            name: w.name.node.to_string(),
            method: Method::Post,
            headers: Vec::new(),
            secret_headers: Vec::new(),
            content_type: None,
            has_body: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            retry: DEFAULT_RETRY,
            backoff_ms: DEFAULT_BACKOFF_MS,
            rate: None,
            on_failure: OnFailure::Stop,
            sign: None,
            captures: Vec::new(),
            dynamic_host: false,
            url_shape: None,
        };
        let dynamic_host = w
            .settings
            .iter()
            .any(|s| matches!(s.node, Setting::DynamicHost));
        let mut user_content_type = false;
        for setting in &w.settings {
            match &setting.node {
                Setting::Method(m) => info.method = *m,
                Setting::Url(url) => {
                    self.emit(Instruction::Begin(Target::Url), url.span);
                    info.url_shape = self.url(url, dynamic_host);
                }
                Setting::Header { name, value } => {
                    let index = info.headers.len() as u16;
                    user_content_type |= name.node.eq_ignore_ascii_case("content-type");
                    info.headers.push(name.node.to_string());
                    info.secret_headers
                        .push(value.iter().any(|p| matches!(p, HeaderPiece::Secret(_))));
                    self.emit(Instruction::Begin(Target::Header(index)), setting.span);
                    for piece in value {
                        match piece {
                            HeaderPiece::Text(t) => self.template(t, Escape::Header),
                            HeaderPiece::Secret(s) => {
                                let id = self.secret(&s.node);
                                self.emit(Instruction::EmitSecret(id), s.span);
                            }
                        }
                    }
                }
                Setting::Post(post) => {
                    info.has_body = true;
                    info.content_type = Some("application/x-www-form-urlencoded".into());
                    self.emit(Instruction::Begin(Target::Body), post.span);
                    let mut first = true;
                    for pair in split_pairs(post).iter().filter(|p| !p.is_empty()) {
                        if !first {
                            self.text("&", pair.span);
                        }
                        first = false;
                        for part in &pair.label {
                            self.part(part, Escape::Form);
                        }
                        self.text("=", pair.span);
                        for part in pair.value.iter().flatten() {
                            self.part(part, Escape::Form);
                        }
                    }
                }
                Setting::Json(json) => {
                    info.has_body = true;
                    info.content_type = Some("application/json".into());
                    self.emit(Instruction::Begin(Target::Body), json.span);
                    self.json(json);
                }
                Setting::Timeout(d) => info.timeout_ms = d.millis,
                Setting::Retry(n) => info.retry = *n,
                Setting::Backoff(d) => info.backoff_ms = d.millis,
                Setting::Rate(r) => info.rate = Some((r.count, r.per_millis)),
                Setting::OnFailure(f) => info.on_failure = *f,
                Setting::Sign(s) => info.sign = Some(self.secret(&s.node)),
                Setting::Capture { field, source } => {
                    let field = self.field(&field.node);
                    let (from_json, path) = match source {
                        CaptureSource::JsonPointer(p) => (true, p.node.to_string()),
                        CaptureSource::Header(h) => (false, h.node.to_string()),
                    };
                    info.captures.push(Capture {
                        field,
                        from_json,
                        path,
                    });
                }
                Setting::DynamicHost => info.dynamic_host = true,
            }
        }
        if user_content_type {
            info.content_type = None;
        }
        self.program.webhooks.push(info);
        let id = self.program.webhooks.len() as u32 - 1;
        self.emit(Instruction::Webhook(id), span);
    }

    /// A URL: merges the URL parser places in the host or port (only there
    /// with `dynamic host`, enforced by the checks) are host names; the rest
    /// are URL components. Returns what merged URLs must keep, if it merges.
    /// A URL that merges nothing is emitted as the parser serializes it.
    fn url(&mut self, url: &Template, dynamic_host: bool) -> Option<UrlShape> {
        if let Some(literal) = url.as_literal() {
            // Shown as the parser serializes it: what is sent.
            match url::Url::parse(&literal) {
                Ok(parsed) => self.text(parsed.as_str(), url.span),
                Err(_) => self.text(&literal, url.span),
            }
            return None;
        }
        let layout = url_template::analyse(&url_template::pieces(url)).ok();
        let in_host = layout.as_ref().map_or(0, |l| l.before_path.len());
        let mut merges = 0;
        for part in url.parts().iter() {
            let escape = match part {
                Part::Merge(_) if merges < in_host => Escape::Host,
                _ => Escape::Url,
            };
            merges += usize::from(matches!(part, Part::Merge(_)));
            self.part(part, escape);
        }
        if merges == 0 {
            return None;
        }
        // The checks passed, so the template parses; should it not, no
        // merged URL may pass (an empty shape matches no real URL).
        Some(layout.map_or_else(
            || UrlShape {
                fixed: String::new(),
                dynamic_host,
                path: vec![PathPiece::Text(String::new())],
                last_segment: Vec::new(),
            },
            |l| l.shape(dynamic_host),
        ))
    }

    /// A trigger, with its verification secret registered like any other
    /// `secret()`, so a run loads it from the environment. A webhook
    /// trigger without a `verify` clause (an error `check` reports) is left
    /// out rather than served unverified.
    fn trigger(&mut self, trigger: &ast::Trigger) -> Option<instructions::Trigger> {
        Some(match trigger {
            ast::Trigger::ContactAdded => instructions::Trigger::ContactAdded,
            ast::Trigger::TagAdded(tag) => instructions::Trigger::TagAdded(tag.node.to_string()),
            ast::Trigger::WebhookReceived { path, verify } => {
                let verify = match &verify.as_ref()?.node {
                    ast::Verify::Standard(s) => instructions::Verify::Standard {
                        secret: self.secret(&s.node),
                    },
                    ast::Verify::Github(s) => instructions::Verify::Github {
                        secret: self.secret(&s.node),
                    },
                    ast::Verify::None => instructions::Verify::None,
                };
                instructions::Trigger::WebhookReceived {
                    path: path.node.to_string(),
                    verify,
                }
            }
        })
    }

    fn secret(&mut self, name: &str) -> u32 {
        match self.program.secrets.iter().position(|s| s == name) {
            Some(i) => i as u32,
            None => {
                self.program.secrets.push(name.to_string());
                self.program.secrets.len() as u32 - 1
            }
        }
    }

    fn json(&mut self, json: &Json) {
        match &json.kind {
            JsonKind::Object(members) => {
                self.text("{", json.span);
                for (i, member) in members.iter().enumerate() {
                    if i > 0 {
                        self.text(",", json.span);
                    }
                    match member {
                        Member::One(key, value) => {
                            let mut k = String::from("\"");
                            encode::json_string_into(&mut k, &key.node);
                            k.push_str("\":");
                            self.text(&k, key.span);
                            self.json(value);
                        }
                        Member::Run(run) => {
                            let mut out = String::with_capacity(run.node.len());
                            literal_json(&mut out, &run.node, true);
                            self.text(&out, run.span);
                        }
                    }
                }
                self.text("}", json.span);
            }
            JsonKind::Array(items) => {
                self.text("[", json.span);
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.text(",", json.span);
                    }
                    self.json(item);
                }
                self.text("]", json.span);
            }
            JsonKind::Str(t) => {
                self.text("\"", t.span);
                self.template(t, Escape::Json);
                self.text("\"", t.span);
            }
            JsonKind::Merge(m) => {
                let site = self.merge_site(m, Escape::Json);
                self.emit(Instruction::EmitJsonMerge(site), m.span());
            }
            JsonKind::Number(n) => {
                let mut out = String::new();
                json_number(&mut out, n);
                self.text(&out, json.span);
            }
            JsonKind::Run(text) | JsonKind::Literal(text) => {
                let mut out = String::with_capacity(text.len());
                literal_json(&mut out, text, false);
                self.text(&out, json.span);
            }
            JsonKind::Bool(b) => self.text(if *b { "true" } else { "false" }, json.span),
            JsonKind::Null => self.text("null", json.span),
        }
    }
}

/// Literal JSON text (a run of elements or members, or a whole literal
/// value; a run of members when `in_object`) as it is sent: compact, numbers as [`json_number`] writes them, strings escaped
/// for JSON.
fn literal_json(out: &mut String, text: &str, in_object: bool) {
    // Whether the next key, value or opening bracket follows another.
    let mut after = false;
    for t in literal_tokens_in(text, in_object) {
        if after && t.role != LiteralRole::Close {
            out.push(',');
        }
        match t.role {
            LiteralRole::Open | LiteralRole::Close => out.push_str(t.text),
            LiteralRole::Key => {
                out.push('"');
                encode::json_string_into(out, literal_text(t.text));
                out.push_str("\":");
            }
            LiteralRole::Value if t.text.starts_with('"') => {
                out.push('"');
                encode::json_string_into(out, literal_text(t.text));
                out.push('"');
            }
            LiteralRole::Value => json_number(out, t.text),
        }
        after = matches!(t.role, LiteralRole::Close | LiteralRole::Value);
    }
}

/// A JSON number literal as it is sent: in the shortest form that reads
/// back as the same value; anything else (`true`, `false`, `null`, a
/// number too large for a double) as written.
fn json_number(out: &mut String, literal: &str) {
    match literal.parse::<f64>() {
        Ok(v) if v.is_finite() => encode::write_number(out, v),
        _ => out.push_str(literal),
    }
}

/// Escapes literal template text for its context, at compile time.
fn escape_literal(out: &mut String, text: &str, escape: Escape) {
    match escape {
        Escape::Form => encode::form_urlencode_into(out, text),
        Escape::Json => encode::json_string_into(out, text),
        // Literal URL text is kept as written (it was validated by the checks);
        // literal header text was checked for line breaks.
        Escape::Url | Escape::Host | Escape::Header | Escape::Text | Escape::Raw => {
            out.push_str(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parser::parse;

    fn program(body: &str) -> Program {
        let source = format!("campaign \"C\" {{\n{body}\n}}\n");
        generate(&parse(&source).unwrap_or_else(|e| panic!("{source}: {e:?}")))
    }

    /// What `disasm` prints for a trigger is source that compiles back to
    /// the same trigger with the same secret names, for every kind.
    #[test]
    fn a_trigger_line_compiles_back_to_the_trigger() {
        let original = program(concat!(
            " trigger contact_added\n",
            " trigger tag_added \"Lead \\\"A\\\"\"\n",
            " trigger webhook_received \"/a\" verify standard secret(\"A_KEY\")\n",
            " trigger webhook_received \"/b\" verify github secret(\"B_KEY\")\n",
            " trigger webhook_received \"/c\" verify none\n",
        ));
        assert_eq!(original.triggers.len(), 5);
        let lines: String = original
            .triggers
            .iter()
            .map(|t| format!(" trigger {}\n", t.display(&original.secrets)))
            .collect();
        let again = program(&lines);
        assert_eq!(again.triggers, original.triggers);
        assert_eq!(again.secrets, original.secrets);
    }

    /// A trigger's secret is one of the program's secrets, shared with a
    /// webhook that names the same one; a webhook trigger without `verify`
    /// (which `check` refuses) is never compiled into an open endpoint.
    #[test]
    fn trigger_secrets_join_the_programs_and_unverified_triggers_are_left_out() {
        let p = program(concat!(
            " trigger webhook_received \"/open\"\n",
            " trigger webhook_received \"/gh\" verify github secret(\"GH\")\n",
            " webhook \"W\" {\n url \"https://a.example/x\"\n sign secret(\"HOOK\")\n header \"K\" = secret(\"GH\")\n }\n",
            " trigger webhook_received \"/std\" verify standard secret(\"HOOK\")\n",
        ));
        assert_eq!(p.secrets, ["GH", "HOOK"]);
        assert_eq!(
            p.triggers,
            [
                instructions::Trigger::WebhookReceived {
                    path: "/gh".into(),
                    verify: instructions::Verify::Github { secret: 0 },
                },
                instructions::Trigger::WebhookReceived {
                    path: "/std".into(),
                    verify: instructions::Verify::Standard { secret: 1 },
                },
            ]
        );
        assert_eq!(p.webhooks[0].sign, Some(1));
    }
}
