//! The typed syntax tree. Every node keeps the byte span it was written at,
//! so checks and the compiler can point at exact characters. Nothing here
//! knows about pest.

use crate::span::{Span, Spanned};
pub use crate::syntax::short_string::ShortString;

/// `v` without spare capacity. Lists built by pushing keep up to half their
/// room empty, and a large campaign is millions of short lists: fitting
/// each as it is finished keeps the tree near the size of what it holds.
///
/// The items move to a new block of exactly their size and the old block
/// is freed whole, rather than shrunk in place: shrinking leaves a small
/// remainder between two live nodes that the next lists (which grow
/// through the same sizes) cannot use: on a 12 MB file of notes, those
/// remainders were 30% of `check`'s peak memory.
pub(crate) fn fitted<T>(v: Vec<T>) -> Vec<T> {
    if v.len() == v.capacity() {
        return v;
    }
    let mut exact = Vec::with_capacity(v.len());
    exact.extend(v);
    exact
}

/// [`fitted`], as a boxed slice: 8 bytes smaller than a `Vec` in every
/// node that holds one.
pub(crate) fn fitted_slice<T>(v: Vec<T>) -> Box<[T]> {
    fitted(v).into_boxed_slice()
}

/// One `campaign "name" { ... }` block.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// The campaign's name.
    pub name: Spanned<ShortString>,
    /// `trigger` lines, in source order.
    pub triggers: Vec<Spanned<Trigger>>,
    /// The top-level steps, in order.
    pub steps: Vec<Step>,
    /// The whole block.
    pub span: Span,
}

/// What starts a contact on the campaign.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// `trigger contact_added`
    ContactAdded,
    /// `trigger tag_added "Lead"`
    TagAdded(Spanned<ShortString>),
    /// `trigger webhook_received "/hooks/signup" verify ...`
    WebhookReceived {
        /// The path the server listens on.
        path: Spanned<ShortString>,
        /// The `verify ...` clause (span: `verify` to its end); `None` when
        /// it is missing, which `check` reports: the clause is required.
        verify: Option<Spanned<Verify>>,
    },
}

/// How a `webhook_received` trigger checks that a request is genuine.
#[derive(Debug, Clone, PartialEq)]
pub enum Verify {
    /// `verify standard secret("NAME")`: Standard Webhooks signatures.
    Standard(Spanned<ShortString>),
    /// `verify github secret("NAME")`: GitHub's `X-Hub-Signature-256`.
    Github(Spanned<ShortString>),
    /// `verify none`: anyone may post (`check` warns).
    None,
}

/// A step with its span (the whole statement).
#[derive(Debug, Clone)]
pub struct Step {
    /// What the step does.
    pub kind: StepKind,
    /// The statement, keyword to closing brace.
    pub span: Span,
    /// The leading keyword(s), for diagnostics that name the step.
    pub keyword: Span,
}

/// Every kind of step.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// `webhook "name" { ... }`
    Webhook(Box<Webhook>),
    /// `tag add "X"` / `tag remove "X"`
    Tag {
        /// Adding or removing.
        op: TagOp,
        /// The tag's name; may merge fields.
        name: Template,
    },
    /// `field set [F] = expr`; boxed, as it is larger than most steps.
    FieldSet(Box<FieldSet>),
    /// `note "template"`
    Note(Template),
    /// `wait 2 days` / `wait until ...`
    Wait(Wait),
    /// `if ... { } else if ... { } else { }`; boxed like the variants
    /// below, so that a step is the size of a `tag` or `note` step.
    If(Box<If>),
    /// `split 30% { } else { }`
    Split(Box<Split>),
    /// `stop`
    Stop,
    /// `goal "name" when cond`; boxed, as the largest and rarest variant
    /// would make every step its size.
    Goal(Box<Goal>),
}

/// `field set [F] = expr`
#[derive(Debug, Clone)]
pub struct FieldSet {
    /// The field written.
    pub field: Spanned<ShortString>,
    /// The new value.
    pub value: Operand,
}

/// Tag operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOp {
    /// `tag add`
    Add,
    /// `tag remove`
    Remove,
}

/// A `wait` step.
#[derive(Debug, Clone)]
pub enum Wait {
    /// `wait 2 days`
    For(Spanned<Duration>),
    /// `wait until 2026-12-01T09:00:00Z` or `wait until [Renewal Date]`
    /// (boxed: rare, and an operand would make every step larger)
    Until(Box<Operand>),
}

/// A duration, already in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    /// Milliseconds.
    pub millis: u64,
}

/// An `if` chain: the branches in order and the optional `else`.
#[derive(Debug, Clone)]
pub struct If {
    /// `if`/`else if` arms in order.
    pub branches: Vec<Branch>,
    /// The final `else` block, if any.
    pub otherwise: Option<Block>,
}

/// One `if cond { ... }` arm.
#[derive(Debug, Clone)]
pub struct Branch {
    /// The condition.
    pub cond: Cond,
    /// The steps run when it holds.
    pub body: Block,
}

/// A `{ ... }` list of steps.
#[derive(Debug, Clone)]
pub struct Block {
    /// The steps.
    pub steps: Vec<Step>,
    /// Brace to brace.
    pub span: Span,
}

/// `split N% { } else { }`
#[derive(Debug, Clone)]
pub struct Split {
    /// The percentage (0..=100) that takes the first block.
    pub percent: Spanned<u8>,
    /// Taken by `percent`% of contacts.
    pub first: Block,
    /// Taken by the rest.
    pub otherwise: Block,
}

/// `goal "name" when cond`
#[derive(Debug, Clone)]
pub struct Goal {
    /// The goal's name.
    pub name: Spanned<ShortString>,
    /// When it is met.
    pub cond: Cond,
}

/// A boolean condition.
#[derive(Debug, Clone)]
pub struct Cond {
    /// What it tests.
    pub kind: CondKind,
    /// The whole condition.
    pub span: Span,
}

/// Condition forms.
#[derive(Debug, Clone)]
pub enum CondKind {
    /// `a and b and ...`: a flat list, so long chains do not deepen the tree.
    And(Vec<Cond>),
    /// `a or b or ...`
    Or(Vec<Cond>),
    /// `not a`
    Not(Box<Cond>),
    /// `a OP b`; boxed, as the largest form would make every condition
    /// its size.
    Compare(Box<Compare>),
    /// `a is empty` (`negated`: `is not empty`)
    IsEmpty {
        /// The tested value.
        operand: Operand,
        /// `is not empty`.
        negated: bool,
    },
    /// `has tag "X"`
    HasTag(Template),
    /// A bare operand used as a truth value (`true`, `[Opted In]`).
    Truthy(Operand),
}

/// `a OP b`
#[derive(Debug, Clone)]
pub struct Compare {
    /// Left side.
    pub left: Operand,
    /// The operator.
    pub op: Spanned<CompareOp>,
    /// Right side.
    pub right: Operand,
}

/// Binary comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CompareOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `contains`
    Contains,
    /// `starts_with`
    StartsWith,
    /// `ends_with`
    EndsWith,
}

impl CompareOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Contains => "contains",
            CompareOp::StartsWith => "starts_with",
            CompareOp::EndsWith => "ends_with",
        }
    }
}

/// A value in a condition, `field set`, or `wait until`.
#[derive(Debug, Clone)]
pub enum Operand {
    /// `[Field | filters]`; boxed, so that an operand is the size of a
    /// template.
    Merge(Box<Merge>),
    /// `"text [with] merges"`
    Text(Template),
    /// `50`, `-2.5`
    Number(Spanned<f64>),
    /// `true` / `false`
    Bool(Spanned<bool>),
    /// An RFC 3339 timestamp literal (`wait until` only), as Unix seconds.
    Timestamp(Spanned<i64>),
}

impl Operand {
    /// Where the operand was written.
    pub fn span(&self) -> Span {
        match self {
            Operand::Merge(m) => m.span,
            Operand::Text(t) => t.span,
            Operand::Number(n) => n.span,
            Operand::Bool(b) => b.span,
            Operand::Timestamp(t) => t.span,
        }
    }
}

/// A string literal, split into literal text and merge fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Text and merges in order; adjacent text is already joined, except
    /// that each control character is a text part of its own.
    pub parts: Vec<Part>,
    /// The literal including its quotes.
    pub span: Span,
}

impl Template {
    /// The literal text when the template merges nothing.
    pub fn as_literal(&self) -> Option<ShortString> {
        match self.parts.as_slice() {
            [] => Some(ShortString::default()),
            [Part::Text(t)] => Some(t.node.clone()),
            parts => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(&t.node),
                        Part::Merge(_) => return None,
                    }
                }
                Some(ShortString::from(out))
            }
        }
    }

    /// Every merge in the template.
    pub fn merges(&self) -> impl Iterator<Item = &Merge> {
        self.parts.iter().filter_map(|p| match p {
            Part::Merge(m) => Some(m),
            Part::Text(_) => None,
        })
    }
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text, escapes already resolved. The span covers the source
    /// characters (including backslashes).
    Text(Spanned<ShortString>),
    /// A `[Field | filter]` merge.
    Merge(Merge),
}

/// A merge expression: `[Field Name | filter: 'arg' | filter]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    /// The field name, trimmed; the span covers just the name.
    pub field: Spanned<ShortString>,
    /// Filters applied left to right (a boxed slice: no spare room, and
    /// 8 bytes smaller than a `Vec` in every merge).
    pub filters: Box<[Filter]>,
    /// Bracket to bracket.
    pub span: Span,
}

/// One `| name: arg, arg` filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The filter's name.
    pub name: Spanned<ShortString>,
    /// Its arguments.
    pub args: Box<[Spanned<FilterArg>]>,
    /// From the name to the last argument.
    pub span: Span,
}

/// A filter argument.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterArg {
    /// `'text'`
    Str(ShortString),
    /// `20`
    Number(f64),
}

/// HTTP methods a webhook can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A `webhook "name" { ... }` block.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The step's name.
    pub name: Spanned<ShortString>,
    /// Settings in source order; checks reject duplicates and missing `url`.
    pub settings: Vec<Spanned<Setting>>,
}

impl Webhook {
    /// The first `url` setting.
    pub fn url(&self) -> Option<&Template> {
        self.settings.iter().find_map(|s| match &s.node {
            Setting::Url(t) => Some(t),
            _ => None,
        })
    }
}

/// One line inside a webhook block.
#[derive(Debug, Clone)]
pub enum Setting {
    /// `method PUT`
    Method(Method),
    /// `url "..."`
    Url(Template),
    /// `header "Name" = value`
    Header {
        /// Header name, literal.
        name: Spanned<ShortString>,
        /// Its value: text, merges and secrets joined with `+`.
        value: Vec<HeaderPiece>,
    },
    /// `post "a=[x]&b=2"`
    Post(Template),
    /// `json { ... }`
    Json(Json),
    /// `timeout 5s`
    Timeout(Duration),
    /// `retry 3`
    Retry(u32),
    /// `backoff 5ms`
    Backoff(Duration),
    /// `rate 10/s`
    Rate(Rate),
    /// `on failure continue|stop`
    OnFailure(OnFailure),
    /// `sign secret("NAME")`
    Sign(Spanned<ShortString>),
    /// `capture [F] = json "/ptr"` or `header "Name"`
    Capture {
        /// The field written.
        field: Spanned<ShortString>,
        /// Where the value comes from.
        source: CaptureSource,
    },
    /// `dynamic host`
    DynamicHost,
}

/// A piece of a header value.
#[derive(Debug, Clone)]
pub enum HeaderPiece {
    /// A string literal, possibly with merges.
    Text(Template),
    /// `secret("NAME")`; the span covers the call.
    Secret(Spanned<ShortString>),
}

/// `rate N/unit`
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests allowed per `per_millis`.
    pub count: u32,
    /// The period in milliseconds.
    pub per_millis: u64,
}

/// What a contact does after a webhook's retries are exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OnFailure {
    /// Go on with the next step.
    Continue,
    /// Stop the contact as failed (the default).
    Stop,
}

/// Where `capture` reads from.
#[derive(Debug, Clone)]
pub enum CaptureSource {
    /// A JSON pointer into the response body.
    JsonPointer(Spanned<ShortString>),
    /// A response header.
    Header(Spanned<ShortString>),
}

/// A JSON body value.
#[derive(Debug, Clone)]
pub struct Json {
    /// The value.
    pub kind: JsonKind,
    /// Where it was written.
    pub span: Span,
}

/// JSON value forms; strings may merge fields, and a bare merge is typed.
#[derive(Debug, Clone)]
pub enum JsonKind {
    /// `{ "k": v, ... }`
    Object(Vec<(Spanned<ShortString>, Json)>),
    /// `[ v, ... ]`
    Array(Vec<Json>),
    /// `"text [Merge]"`
    Str(Template),
    /// A bare `[Field]`: a string, or a number with `| number`; boxed, so
    /// that a JSON value is the size of a string's.
    Merge(Box<Merge>),
    /// A number literal, kept as written.
    Number(ShortString),
    /// `true` / `false`
    Bool(bool),
    /// `null`
    Null,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large campaign is mostly these nodes: growing one grows `check`'s
    /// memory on every file (docs/performance.md, "`check`'s memory").
    /// Rare or large forms are boxed so that the common ones stay small;
    /// measure with benches/baseline's `gen construct` before raising one.
    #[test]
    fn node_sizes() {
        use std::mem::size_of;
        assert!(size_of::<Step>() <= 56);
        assert!(size_of::<Cond>() <= 48);
        assert!(size_of::<Operand>() <= 32);
        assert!(size_of::<Template>() <= 32);
        assert!(size_of::<Part>() <= 56);
        assert!(size_of::<Merge>() <= 56);
        assert!(size_of::<Filter>() <= 56);
        assert!(size_of::<Json>() <= 40);
    }
}
