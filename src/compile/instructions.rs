//! The bytecode: instructions, the tables they index, and the listing that
//! `campaign disasm` prints.
//!
//! Instructions carry no spans; a side table maps each pc to the source span
//! it came from, so runtime errors can point at the step that failed.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::filters::FilterOp;
use crate::span::Span;
use crate::syntax::ast::{CompareOp, Method, OnFailure};
use crate::url_template::UrlShape;

/// Index into [`Program::fields`].
pub type FieldId = u32;

/// How merged text is escaped where it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Escape {
    /// Plain text (notes, tags, field values): no escaping.
    Text,
    /// `application/x-www-form-urlencoded` (post data labels and values).
    Form,
    /// Percent-encoded URL component (merges in a `url`).
    Url,
    /// A host name merged into a `dynamic host` URL's host or port (as the
    /// URL parser places it): inserted as is, but only letters, digits, `.`,
    /// `-`, `:` and IPv6 brackets pass.
    Host,
    /// Inside a JSON string.
    Json,
    /// A header value: refused for the contact if it holds CR, LF or NUL.
    Header,
    /// `| raw`: inserted exactly as merged.
    Raw,
}

/// Where `Emit*` instructions append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// The scratch buffer read by `PushText` and the text actions.
    Scratch,
    /// The pending request's URL.
    Url,
    /// The pending request's header value at this index.
    Header(u16),
    /// The pending request's body.
    Body,
}

/// One VM instruction. The VM keeps a value stack and a current text target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Instruction {
    /// Clears the given buffer and makes it the current target.
    Begin(Target),
    /// Appends constant text `texts[arg]` (already escaped for its context).
    EmitText(u32),
    /// Appends merge `merges[arg]`, filtered and escaped by its context.
    EmitMerge(u32),
    /// Appends merge `merges[arg]` as a JSON value: a string, or a number,
    /// bool or `null` when filters made it one.
    EmitJsonMerge(u32),
    /// Appends secret `secrets[arg]` (`***` in a dry run).
    EmitSecret(u32),
    /// Pushes the scratch buffer as a text value.
    PushText,
    /// Pushes the value of merge `merges[arg]`.
    PushMerge(u32),
    /// Pushes constant `constants[arg]`.
    PushConst(u32),
    /// Pops right then left, pushes the comparison's truth.
    Compare(CompareOp),
    /// Pops a value, pushes whether it is empty.
    IsEmpty,
    /// Pops a value, pushes its truthiness.
    Truthy,
    /// Pops a tag name, pushes whether the contact has it.
    HasTag,
    /// Pops a bool, pushes its negation.
    Not,
    /// Jumps to `arg` if the top is false, else pops it (`and` chains).
    JumpIfFalseOrPop(u32),
    /// Jumps to `arg` if the top is true, else pops it (`or` chains).
    JumpIfTrueOrPop(u32),
    /// Pops a bool and jumps to `arg` if it is false.
    PopJumpIfFalse(u32),
    /// Jumps to `arg`.
    Jump(u32),
    /// Sends webhook `webhooks[arg]` with the pending URL, headers and body.
    Webhook(u32),
    /// Adds the tag in the scratch buffer.
    TagAdd,
    /// Removes the tag in the scratch buffer.
    TagRemove,
    /// Pops a value into field `arg`.
    FieldSet(FieldId),
    /// Records the scratch buffer as a note.
    Note,
    /// Waits `durations[arg]` milliseconds, then checks goals ahead.
    Wait(u32),
    /// Pops a date (a timestamp, or text read as a date) and waits until it.
    WaitUntil,
    /// Pushes whether the contact falls in split `splits[arg]`'s first block.
    Split(u32),
    /// Jumps to the first goal ahead of `arg` (a pc) whose condition holds.
    CheckGoals(u32),
    /// Reaching goal `goals[arg]`: records it if its condition holds now.
    Goal(u32),
    /// Ends the contact's run early.
    Stop,
    /// Ends a goal-condition routine; the bool on top is its result.
    Return,
    /// Ends the contact's run.
    Done,
}

/// A constant pushed by `PushConst`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Constant {
    /// Text.
    Text(String),
    /// A number.
    Number(f64),
    /// A bool.
    Bool(bool),
    /// An instant, as Unix seconds.
    Timestamp(i64),
}

/// A merge site: the field, its filters, and the escaping of its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeSite {
    /// The field read.
    pub field: FieldId,
    /// Filters, left to right.
    pub filters: Vec<FilterOp>,
    /// How the result is escaped.
    pub escape: Escape,
}

/// Everything a webhook needs besides its merged URL, headers and body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookInfo {
    /// The step's name.
    pub name: String,
    /// HTTP method.
    pub method: Method,
    /// Header names, in order; values are built per contact.
    pub headers: Vec<String>,
    /// Whether a header value holds a secret (so output must redact it).
    pub secret_headers: Vec<bool>,
    /// Content-Type added for the body, unless a header sets one.
    pub content_type: Option<String>,
    /// Whether the request has a body.
    pub has_body: bool,
    /// Per-attempt timeout.
    pub timeout_ms: u64,
    /// Retries after the first attempt.
    pub retry: u32,
    /// First retry delay.
    pub backoff_ms: u64,
    /// Optional `rate N/period` as (count, period in ms).
    pub rate: Option<(u32, u64)>,
    /// What the contact does when the webhook finally fails.
    pub on_failure: OnFailure,
    /// Secret used to sign the request, the Standard Webhooks way.
    pub sign: Option<u32>,
    /// Response captures.
    pub captures: Vec<Capture>,
    /// Whether contact data may choose the host (`dynamic host`).
    pub dynamic_host: bool,
    /// When the URL merges fields: what every merged URL must keep of its
    /// template (its literal origin and path pieces), checked before it is
    /// sent. Such requests also go through the private-address guard.
    pub url_shape: Option<UrlShape>,
}

/// `capture [F] = json "/ptr"` or `header "Name"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capture {
    /// Field written.
    pub field: FieldId,
    /// JSON pointer (`true`) or header name (`false`).
    pub from_json: bool,
    /// The pointer or header name.
    pub path: String,
}

/// A goal: its name, where it stands, and its condition routine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalInfo {
    /// The goal's name.
    pub name: String,
    /// The pc of its `Goal` instruction.
    pub pc: u32,
    /// The pc where its condition routine starts.
    pub cond_pc: u32,
}

/// What starts a contact on the campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// `trigger contact_added`
    ContactAdded,
    /// `trigger tag_added "Lead"`
    TagAdded(String),
    /// `trigger webhook_received "/path" verify ...`: the path is served,
    /// and each request is verified before it enrols anyone.
    WebhookReceived {
        /// The path, as written (it starts with `/`).
        path: String,
        /// How requests are verified.
        verify: Verify,
    },
}

/// How a `webhook_received` trigger verifies a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verify {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature`, keyed with the `whsec_` secret `secrets[secret]`.
    Standard {
        /// Index into [`Program::secrets`].
        secret: u32,
    },
    /// GitHub: `X-Hub-Signature-256`, keyed with the raw secret
    /// `secrets[secret]`.
    Github {
        /// Index into [`Program::secrets`].
        secret: u32,
    },
    /// No verification (`verify none`).
    None,
}

impl Verify {
    /// The secret the verification is keyed with, as an index into
    /// [`Program::secrets`].
    pub fn secret(self) -> Option<u32> {
        match self {
            Verify::Standard { secret } | Verify::Github { secret } => Some(secret),
            Verify::None => None,
        }
    }
}

impl Trigger {
    /// The trigger as written in the source, with secret names looked up
    /// in `secrets` (a program's [`Program::secrets`]): what `disasm`
    /// prints after `trigger `, and safe to log (names, never values).
    pub fn display<'a>(&'a self, secrets: &'a [String]) -> impl std::fmt::Display + 'a {
        TriggerLine {
            trigger: self,
            secrets,
        }
    }
}

struct TriggerLine<'a> {
    trigger: &'a Trigger,
    secrets: &'a [String],
}

impl std::fmt::Display for TriggerLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.trigger {
            Trigger::ContactAdded => f.write_str("contact_added"),
            Trigger::TagAdded(tag) => write!(f, "tag_added {tag:?}"),
            Trigger::WebhookReceived { path, verify } => {
                write!(f, "webhook_received {path:?} verify ")?;
                let secret = |i: &u32| self.secrets.get(*i as usize).map_or("?", String::as_str);
                match verify {
                    Verify::Standard { secret: i } => {
                        write!(f, "standard secret({:?})", secret(i))
                    }
                    Verify::Github { secret: i } => write!(f, "github secret({:?})", secret(i)),
                    Verify::None => f.write_str("none"),
                }
            }
        }
    }
}

/// A compiled campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// The campaign's name.
    pub name: String,
    /// Triggers, in source order.
    pub triggers: Vec<Trigger>,
    /// The code.
    pub code: Vec<Instruction>,
    /// Source span of each instruction (same length as `code`).
    pub spans: Vec<Span>,
    /// Field names, indexed by [`FieldId`].
    pub fields: Vec<String>,
    /// Constant text.
    pub texts: Vec<String>,
    /// Constant values.
    pub constants: Vec<Constant>,
    /// Merge sites.
    pub merges: Vec<MergeSite>,
    /// Secret names.
    pub secrets: Vec<String>,
    /// Webhooks.
    pub webhooks: Vec<WebhookInfo>,
    /// Wait durations in milliseconds.
    pub durations: Vec<u64>,
    /// Split percentages.
    pub splits: Vec<u8>,
    /// Goals, in source order.
    pub goals: Vec<GoalInfo>,
}

impl Program {
    /// The id of a field by name.
    pub fn field_id(&self, name: &str) -> Option<FieldId> {
        self.fields
            .iter()
            .position(|f| f == name)
            .map(|i| i as FieldId)
    }

    /// Per secret (indexed like [`Program::secrets`]), whether a step
    /// uses it (merged into a request, or a signing key); the others are
    /// only a trigger's `verify` secret, which only a server needs.
    pub fn secrets_used_by_steps(&self) -> Vec<bool> {
        let mut used = vec![false; self.secrets.len()];
        let mut mark = |i: u32| {
            if let Some(u) = used.get_mut(i as usize) {
                *u = true;
            }
        };
        for ins in &self.code {
            if let Instruction::EmitSecret(i) = ins {
                mark(*i);
            }
        }
        for w in &self.webhooks {
            if let Some(i) = w.sign {
                mark(i);
            }
        }
        used
    }

    /// The source span of the instruction at `pc`.
    pub fn span_at(&self, pc: usize) -> Span {
        self.spans.get(pc).copied().unwrap_or_default()
    }

    /// The human-readable listing printed by `campaign disasm`.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "campaign {:?}", self.name);
        for t in &self.triggers {
            let _ = writeln!(out, "trigger {}", t.display(&self.secrets));
        }
        if !self.fields.is_empty() {
            let _ = writeln!(out, "fields:");
            for (i, f) in self.fields.iter().enumerate() {
                let _ = writeln!(out, "  f{i} {f:?}");
            }
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            let _ = write!(out, "webhook w{i} {:?} {}", w.name, w.method.as_str());
            let _ = write!(out, " timeout={}ms retry={}", w.timeout_ms, w.retry);
            if let Some(ct) = &w.content_type {
                let _ = write!(out, " content-type={ct:?}");
            }
            let _ = writeln!(out);
            for (h, name) in w.headers.iter().enumerate() {
                let _ = writeln!(out, "  header {h} {name:?}");
            }
        }
        for (i, g) in self.goals.iter().enumerate() {
            let _ = writeln!(
                out,
                "goal g{i} {:?} at {:05} when {:05}",
                g.name, g.pc, g.cond_pc
            );
        }
        let _ = writeln!(out, "code:");
        for (pc, ins) in self.code.iter().enumerate() {
            let _ = writeln!(out, "{pc:05} | {}", self.describe(ins));
        }
        out
    }

    fn describe(&self, ins: &Instruction) -> String {
        use Instruction::*;
        let text = |i: &u32| {
            self.texts
                .get(*i as usize)
                .map_or(String::new(), |t| format!("{t:?}"))
        };
        match ins {
            Begin(t) => format!("Begin({t:?})"),
            EmitText(i) => format!("EmitText({})", text(i)),
            EmitMerge(i) | EmitJsonMerge(i) | PushMerge(i) => {
                let verb = match ins {
                    EmitMerge(_) => "EmitMerge",
                    EmitJsonMerge(_) => "EmitJsonMerge",
                    _ => "PushMerge",
                };
                match self.merges.get(*i as usize) {
                    Some(m) => {
                        let field = self
                            .fields
                            .get(m.field as usize)
                            .map_or("?", String::as_str);
                        let mut s = format!("{verb}({field:?}");
                        for f in &m.filters {
                            let _ = write!(s, " | {f:?}");
                        }
                        let _ = write!(s, ", {:?})", m.escape);
                        s
                    }
                    None => format!("{verb}(?)"),
                }
            }
            EmitSecret(i) => format!(
                "EmitSecret({:?})",
                self.secrets.get(*i as usize).map_or("?", String::as_str)
            ),
            PushConst(i) => match self.constants.get(*i as usize) {
                Some(Constant::Text(t)) => format!("PushConst({t:?})"),
                Some(Constant::Number(n)) => format!("PushConst({n})"),
                Some(Constant::Bool(b)) => format!("PushConst({b})"),
                Some(Constant::Timestamp(t)) => format!("PushConst(@{t})"),
                None => "PushConst(?)".into(),
            },
            Webhook(i) => format!(
                "Webhook({:?})",
                self.webhooks
                    .get(*i as usize)
                    .map_or("?", |w| w.name.as_str())
            ),
            Wait(i) => format!(
                "Wait({}ms)",
                self.durations.get(*i as usize).copied().unwrap_or(0)
            ),
            Split(i) => format!(
                "Split({}%)",
                self.splits.get(*i as usize).copied().unwrap_or(0)
            ),
            Goal(i) => format!(
                "Goal({:?})",
                self.goals.get(*i as usize).map_or("?", |g| g.name.as_str())
            ),
            FieldSet(f) => format!(
                "FieldSet({:?})",
                self.fields.get(*f as usize).map_or("?", String::as_str)
            ),
            CheckGoals(pc) => format!("CheckGoals(after {pc:05})"),
            JumpIfFalseOrPop(t) => format!("JumpIfFalseOrPop({t:05})"),
            JumpIfTrueOrPop(t) => format!("JumpIfTrueOrPop({t:05})"),
            PopJumpIfFalse(t) => format!("PopJumpIfFalse({t:05})"),
            Jump(t) => format!("Jump({t:05})"),
            other => format!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_stay_small() {
        assert_eq!(std::mem::size_of::<Instruction>(), 8);
    }
}
