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
/// remainders were 30% of `check`'s peak memory. A large list is shrunk
/// in place: it has pages of its own, whose tail goes back to the system,
/// where a copy would hold the whole list twice (one note of 4,000,000
/// merges took 29 times its file's size in `check`, 15.5 times now).
pub(crate) fn fitted<T>(mut v: Vec<T>) -> Vec<T> {
    if v.len() == v.capacity() {
        return v;
    }
    if v.capacity() * std::mem::size_of::<T>() >= LARGE_LIST_BYTES {
        v.shrink_to_fit();
        return v;
    }
    let mut exact = Vec::with_capacity(v.len());
    exact.extend(v);
    exact
}

/// Lists this large are fitted in place (see [`fitted`]).
const LARGE_LIST_BYTES: usize = 1 << 20;

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
    /// `if`/`else if` arms in order (a boxed slice, as every list that is
    /// not grown once parsed: 8 bytes less in each node that holds one).
    pub branches: Box<[Branch]>,
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
    pub steps: Box<[Step]>,
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

/// A boolean condition, as one list of nodes: each operator before what
/// it applies to (an `and` before its conditions, a comparison before its
/// two operands). Read it through [`Cond::root`].
///
/// One list per condition rather than a node per box: a chain like
/// `[Score | number] > 7 and not has tag "a" or [Country] == "US"` was six
/// 48-byte condition nodes in three lists and a box, and two boxed
/// comparisons; its ten 32-byte nodes now sit in one block, and the
/// condition in its branch is a pointer and a length. On a file made only
/// of such chains that took `check`'s peak memory from 12.1 to 11.0 times
/// the file's size (docs/performance.md, "`check`'s memory").
#[derive(Debug, Clone)]
pub struct Cond {
    nodes: Box<[Node]>,
}

/// One node of a [`Cond`]. `len` counts the nodes after this one that
/// belong to it, so a reader steps over a whole operand of `and`, `or` or
/// `not` at once.
#[derive(Debug, Clone)]
enum Node {
    /// `a and b and ...`: a flat list, so long chains do not deepen the
    /// tree; followed by its conditions.
    And { len: u32, span: Span },
    /// `a or b or ...`
    Or { len: u32, span: Span },
    /// `not a`: followed by `a`.
    Not { len: u32, span: Span },
    /// `a OP b`: followed by the operands `a` and `b`.
    Compare { op: Spanned<CompareOp>, span: Span },
    /// `a is empty` (`negated`: `is not empty`): followed by `a`.
    IsEmpty { negated: bool, span: Span },
    /// `has tag "X"`: followed by the tag as an [`Operand::Text`].
    HasTag { span: Span },
    /// A bare operand used as a truth value: followed by the operand.
    Truthy { span: Span },
    /// An operand of the node before it.
    Operand(Operand),
}

impl Node {
    /// How many nodes the condition starting with this one takes.
    fn size(&self) -> usize {
        match self {
            Node::And { len, .. } | Node::Or { len, .. } | Node::Not { len, .. } => {
                1 + *len as usize
            }
            Node::Compare { .. } => 3,
            Node::IsEmpty { .. } | Node::HasTag { .. } | Node::Truthy { .. } => 2,
            Node::Operand(_) => 1,
        }
    }
}

impl Cond {
    /// The whole condition.
    pub fn root(&self) -> CondRef<'_> {
        CondRef { nodes: &self.nodes }
    }

    /// Where the whole condition was written.
    pub fn span(&self) -> Span {
        self.root().span()
    }
}

/// A condition inside a [`Cond`] (the whole of it, or an operand of `and`,
/// `or` or `not`).
#[derive(Debug, Clone, Copy)]
pub struct CondRef<'a> {
    /// This condition's nodes, exactly: its own first.
    nodes: &'a [Node],
}

/// What a condition tests, as read through [`CondRef::kind`].
#[derive(Debug, Clone)]
pub enum CondKind<'a> {
    /// `a and b and ...`
    And(Conds<'a>),
    /// `a or b or ...`
    Or(Conds<'a>),
    /// `not a`
    Not(CondRef<'a>),
    /// `a OP b`
    Compare {
        /// Left side.
        left: &'a Operand,
        /// The operator.
        op: Spanned<CompareOp>,
        /// Right side.
        right: &'a Operand,
    },
    /// `a is empty` (`negated`: `is not empty`)
    IsEmpty {
        /// The tested value.
        operand: &'a Operand,
        /// `is not empty`.
        negated: bool,
    },
    /// `has tag "X"`
    HasTag(&'a Template),
    /// A bare operand used as a truth value (`true`, `[Opted In]`).
    Truthy(&'a Operand),
}

/// The conditions of an `and` or `or`, in order.
#[derive(Debug, Clone, Copy)]
pub struct Conds<'a> {
    rest: &'a [Node],
}

impl<'a> Iterator for Conds<'a> {
    type Item = CondRef<'a>;

    fn next(&mut self) -> Option<CondRef<'a>> {
        let size = self.rest.first()?.size().min(self.rest.len());
        let (this, rest) = self.rest.split_at(size);
        self.rest = rest;
        Some(CondRef { nodes: this })
    }
}

impl<'a> CondRef<'a> {
    /// Where this condition was written.
    pub fn span(self) -> Span {
        match &self.nodes[0] {
            Node::And { span, .. }
            | Node::Or { span, .. }
            | Node::Not { span, .. }
            | Node::Compare { span, .. }
            | Node::IsEmpty { span, .. }
            | Node::HasTag { span }
            | Node::Truthy { span } => *span,
            Node::Operand(o) => o.span(),
        }
    }

    /// What it tests.
    pub fn kind(self) -> CondKind<'a> {
        let rest = &self.nodes[1..];
        // Built only by `CondBuilder`, which puts the operands a node
        // takes after it; `false` stands in should that ever not hold.
        let operand = |i: usize| match rest.get(i) {
            Some(Node::Operand(o)) => o,
            _ => &FALSE,
        };
        match &self.nodes[0] {
            Node::And { .. } => CondKind::And(Conds { rest }),
            Node::Or { .. } => CondKind::Or(Conds { rest }),
            Node::Not { .. } => CondKind::Not(CondRef { nodes: rest }),
            Node::Compare { op, .. } => CondKind::Compare {
                left: operand(0),
                op: op.clone(),
                right: operand(1),
            },
            Node::IsEmpty { negated, .. } => CondKind::IsEmpty {
                operand: operand(0),
                negated: *negated,
            },
            Node::HasTag { .. } => match operand(0) {
                Operand::Text(t) => CondKind::HasTag(t),
                other => CondKind::Truthy(other),
            },
            Node::Truthy { .. } => CondKind::Truthy(operand(0)),
            Node::Operand(o) => CondKind::Truthy(o),
        }
    }
}

static FALSE: Operand = Operand::Bool(Spanned {
    node: false,
    span: Span { start: 0, end: 0 },
});

/// Builds a [`Cond`]'s nodes, operator first: open an `and`, `or` or
/// `not` with [`CondBuilder::open`], push what it applies to, and close it
/// with [`CondBuilder::close`].
#[derive(Debug, Default)]
pub(crate) struct CondBuilder {
    nodes: Vec<Node>,
}

/// What [`CondBuilder::open`] opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    And,
    Or,
    Not,
}

impl CondBuilder {
    /// Where the next node goes: [`CondBuilder::truncate`] takes the
    /// builder back there.
    pub(crate) fn mark(&self) -> usize {
        self.nodes.len()
    }

    /// Drops every node from `mark` on (a condition that failed to build).
    pub(crate) fn truncate(&mut self, mark: usize) {
        self.nodes.truncate(mark);
    }

    /// Opens a group; returns the mark to close it with.
    pub(crate) fn open(&mut self, group: Group, span: Span) -> usize {
        let at = self.nodes.len();
        let len = 0;
        self.nodes.push(match group {
            Group::And => Node::And { len, span },
            Group::Or => Node::Or { len, span },
            Group::Not => Node::Not { len, span },
        });
        at
    }

    /// Closes the group opened at `at`: what was pushed since is its.
    pub(crate) fn close(&mut self, at: usize) {
        let after = (self.nodes.len() - at - 1) as u32;
        if let Some(Node::And { len, .. } | Node::Or { len, .. } | Node::Not { len, .. }) =
            self.nodes.get_mut(at)
        {
            *len = after;
        }
    }

    /// `left OP right`.
    pub(crate) fn compare(
        &mut self,
        left: Operand,
        op: Spanned<CompareOp>,
        right: Operand,
        span: Span,
    ) {
        self.nodes.push(Node::Compare { op, span });
        self.nodes.push(Node::Operand(left));
        self.nodes.push(Node::Operand(right));
    }

    /// `operand is empty` / `is not empty`.
    pub(crate) fn is_empty(&mut self, operand: Operand, negated: bool, span: Span) {
        self.nodes.push(Node::IsEmpty { negated, span });
        self.nodes.push(Node::Operand(operand));
    }

    /// `has tag "X"`.
    pub(crate) fn has_tag(&mut self, tag: Template, span: Span) {
        self.nodes.push(Node::HasTag { span });
        self.nodes.push(Node::Operand(Operand::Text(tag)));
    }

    /// A bare operand as a truth value.
    pub(crate) fn truthy(&mut self, operand: Operand, span: Span) {
        self.nodes.push(Node::Truthy { span });
        self.nodes.push(Node::Operand(operand));
    }

    /// `false`, for a condition that did not build.
    pub(crate) fn push_false(&mut self, span: Span) {
        self.truthy(Operand::Bool(Spanned::new(false, span)), span);
    }

    /// The condition, in a block of exactly its size; `false` if nothing
    /// was pushed.
    pub(crate) fn finish(mut self) -> Cond {
        if self.nodes.is_empty() {
            self.push_false(Span::default());
        }
        Cond {
            nodes: fitted_slice(self.nodes),
        }
    }
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
            Operand::Merge(m) => m.span(),
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
    /// that each control character is a text part of its own. Read them
    /// with [`Template::parts`].
    parts: Parts,
    /// The literal including its quotes.
    pub span: Span,
}

/// How a template keeps its parts.
#[derive(Debug, Clone, PartialEq)]
enum Parts {
    /// One text part, written exactly between the quotes: most strings in
    /// a campaign (tag names, compared values, URLs without merges). Kept
    /// in place, where a list would be a heap block of its own (a 64-byte
    /// chunk for `"US"`, three of them in a chain of conditions).
    Text(ShortString),
    /// Anything else, in a block of exactly its size.
    List(Box<[Part]>),
}

/// A template's parts, borrowed: a slice of [`Part`]s.
#[derive(Debug)]
pub struct PartsRef<'a>(PartsRefRepr<'a>);

#[derive(Debug)]
enum PartsRefRepr<'a> {
    /// The one text part of [`Parts::Text`], made on demand.
    One([Part; 1]),
    Many(&'a [Part]),
}

impl std::ops::Deref for PartsRef<'_> {
    type Target = [Part];

    fn deref(&self) -> &[Part] {
        match &self.0 {
            PartsRefRepr::One(part) => part,
            PartsRefRepr::Many(parts) => parts,
        }
    }
}

impl Template {
    /// The template of `parts` written at `span` (quotes included).
    pub fn new(mut parts: Vec<Part>, span: Span) -> Template {
        if let [Part::Text(text)] = parts.as_mut_slice() {
            if Template::inside(span) == Some(text.span) {
                return Template {
                    parts: Parts::Text(std::mem::take(&mut text.node)),
                    span,
                };
            }
        }
        Template {
            parts: Parts::List(fitted_slice(parts)),
            span,
        }
    }

    /// What lies between the quotes of a literal written at `span`.
    fn inside(span: Span) -> Option<Span> {
        (span.len() >= 2).then(|| Span {
            start: span.start + 1,
            end: span.end - 1,
        })
    }

    /// Text and merges in order; adjacent text is already joined, except
    /// that each control character is a text part of its own.
    pub fn parts(&self) -> PartsRef<'_> {
        PartsRef(match &self.parts {
            Parts::Text(text) => {
                let at = Template::inside(self.span).unwrap_or(self.span);
                PartsRefRepr::One([Part::Text(Spanned::new(text.clone(), at))])
            }
            Parts::List(parts) => PartsRefRepr::Many(parts),
        })
    }

    /// The literal text when the template is one text part (no merge, no
    /// control character, no empty string), borrowed from the template.
    pub fn text(&self) -> Option<&str> {
        match &self.parts {
            Parts::Text(text) => Some(text.as_str()),
            Parts::List(_) => None,
        }
    }

    /// The parts when they are not one text part ([`Template::text`]).
    pub(crate) fn listed(&self) -> &[Part] {
        match &self.parts {
            Parts::Text(_) => &[],
            Parts::List(parts) => parts,
        }
    }

    /// The literal text when the template merges nothing.
    pub fn as_literal(&self) -> Option<ShortString> {
        match &self.parts {
            Parts::Text(text) => Some(text.clone()),
            Parts::List(parts) => match &parts[..] {
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
            },
        }
    }

    /// Every merge in the template.
    pub fn merges(&self) -> impl Iterator<Item = &Merge> {
        self.listed().iter().filter_map(|p| match p {
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
    /// The filters and the brackets' span, for a merge that is more than
    /// `[Field]` written tightly. Most merges are exactly that, and then
    /// this is `None` and the merge is 40 bytes (a 48-byte heap chunk
    /// where it is boxed, as in a condition, against 64 with the filters
    /// and span in place). [`Merge::new`] keeps it `None` whenever the
    /// span follows from the name, so derived equality stays exact.
    more: Option<Box<MergeMore>>,
}

/// What a [`Merge`] keeps apart: its filters, and the span that they (or
/// spaces around the name) make wider than the name's.
#[derive(Debug, Clone, PartialEq)]
struct MergeMore {
    span: Span,
    filters: Box<[Filter]>,
}

impl Merge {
    /// A merge of `field` with `filters`, written at `span` (bracket to
    /// bracket).
    pub fn new(field: Spanned<ShortString>, filters: Box<[Filter]>, span: Span) -> Merge {
        let more = (!filters.is_empty() || span != Merge::bracketed(field.span))
            .then(|| Box::new(MergeMore { span, filters }));
        Merge { field, more }
    }

    /// Filters applied left to right.
    pub fn filters(&self) -> &[Filter] {
        self.more.as_ref().map_or(&[], |m| &m.filters)
    }

    /// Bracket to bracket.
    pub fn span(&self) -> Span {
        self.more
            .as_ref()
            .map_or_else(|| Merge::bracketed(self.field.span), |m| m.span)
    }

    /// The span of `[name]` around a name at `name`.
    fn bracketed(name: Span) -> Span {
        Span {
            start: name.start.saturating_sub(1),
            end: name.end.saturating_add(1),
        }
    }
}

/// One `| name: arg, arg` filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The filter's name.
    pub name: Spanned<ShortString>,
    /// Its arguments.
    pub args: Box<[Spanned<FilterArg>]>,
}

impl Filter {
    /// From the name to the last argument (computed, not kept: 8 bytes
    /// less in every filter).
    pub fn span(&self) -> Span {
        self.args
            .last()
            .map_or(self.name.span, |a| self.name.span.to(a.span))
    }
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
    Object(Vec<Member>),
    /// `[ v, ... ]`
    Array(Vec<Json>),
    /// `"text [Merge]"`
    Str(Template),
    /// A bare `[Field]`: a string, or a number with `| number`; boxed, so
    /// that a JSON value is the size of a string's.
    Merge(Box<Merge>),
    /// A number literal, kept as written.
    Number(ShortString),
    /// An object or array with no merge, no escape and no comment anywhere
    /// inside, as written: the largest bodies are mostly this, and one node
    /// (and one pest pair) for all of it keeps `check`'s memory near the
    /// size of the text. Read it with [`literal_tokens`]; the formatter
    /// builds its tree ([`literal_values`]).
    Literal(ShortString),
    /// Consecutive elements of an array that are literal (numbers, `true`,
    /// `false`, `null`, strings without escapes or merges, and objects and
    /// arrays of those) as written, blanks and commas included: `1, "a",
    /// {"b": 2}`. One node for a run keeps a long array of small values from
    /// costing a node, and a pest pair, per element. Read it as a
    /// [`JsonKind::Literal`].
    Run(ShortString),
    /// `true` / `false`
    Bool(bool),
    /// `null`
    Null,
}

/// A member of a JSON object.
#[derive(Debug, Clone)]
pub enum Member {
    /// `"key": value`
    One(Spanned<ShortString>, Json),
    /// Consecutive members whose keys have no escape or merge and whose
    /// values are literal (as the elements of a [`JsonKind::Run`]), as
    /// written with the commas between them: `"a": 1, "b": [2, 3]`. Read it
    /// with [`literal_tokens_in`], `in_object` set.
    Run(Spanned<ShortString>),
}

impl Member {
    /// The value of a single member; a run's values are literal text.
    pub fn value(&self) -> Option<&Json> {
        match self {
            Member::One(_, value) => Some(value),
            Member::Run(_) => None,
        }
    }
}

/// What a token of literal JSON text is to the value around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralRole {
    /// `{` or `[`.
    Open,
    /// `}` or `]`.
    Close,
    /// A member's key, a string with its quotes.
    Key,
    /// A number, `true`, `false`, `null` or a string with its quotes.
    Value,
}

/// One token of literal JSON text.
#[derive(Debug, Clone, Copy)]
pub struct LiteralToken<'a> {
    /// Where it starts in the text.
    pub at: usize,
    /// Its text: a bracket, or a key or value as written.
    pub text: &'a str,
    /// What it is.
    pub role: LiteralRole,
}

/// The tokens of literal JSON text as the grammar matches it (a
/// `json_literal`, `json_flat` or `json_run`): blanks, commas and colons
/// between tokens are skipped, and a string ends at its next `"`, since
/// literal text holds only strings without escapes. Walking a literal this
/// way costs no tree: `check` and `compile` read the largest bodies with it.
pub fn literal_tokens(text: &str) -> impl Iterator<Item = LiteralToken<'_>> {
    literal_tokens_in(text, false)
}

/// [`literal_tokens`] of text that stands inside an object when
/// `in_object` (a [`Member::Run`]: its first string is a key).
pub fn literal_tokens_in(text: &str, in_object: bool) -> impl Iterator<Item = LiteralToken<'_>> {
    let bytes = text.as_bytes();
    let mut at = 0;
    // One entry per open bracket: `None` for an array, and for an object
    // whether its next string is a key.
    let mut open: Vec<Option<bool>> = Vec::new();
    if in_object {
        open.push(Some(true));
    }
    std::iter::from_fn(move || {
        while at < bytes.len() && matches!(bytes[at], b' ' | b'\t' | b'\r' | b'\n' | b',' | b':') {
            at += 1;
        }
        let start = at;
        let first = *bytes.get(at)?;
        let role = match first {
            b'{' | b'[' => {
                open.push((first == b'{').then_some(true));
                at += 1;
                LiteralRole::Open
            }
            b'}' | b']' => {
                open.pop();
                at += 1;
                LiteralRole::Close
            }
            b'"' => {
                at = text[at + 1..].find('"').map_or(text.len(), |q| at + q + 2);
                if open.last() == Some(&Some(true)) {
                    LiteralRole::Key
                } else {
                    LiteralRole::Value
                }
            }
            _ => {
                at = text[at..]
                    .find([' ', '\t', '\r', '\n', ',', ']', '}'])
                    .map_or(text.len(), |end| at + end);
                LiteralRole::Value
            }
        };
        // After a key, its object waits for the value; after a value (or a
        // nested value's closing bracket), for the next key.
        if role != LiteralRole::Open {
            if let Some(Some(key_next)) = open.last_mut() {
                *key_next = role != LiteralRole::Key;
            }
        }
        Some(LiteralToken {
            at: start,
            text: &text[start..at],
            role,
        })
    })
}

/// The text of a key or string value of literal JSON between its quotes
/// (literal text has no escapes: this is the string's value); a number or
/// keyword as it is.
pub fn literal_text(token: &str) -> &str {
    token
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(token)
}

/// The values of literal JSON text (a [`JsonKind::Literal`], or each
/// element of a [`JsonKind::Run`]) that starts at `offset` in the file,
/// as trees with exact spans; each key or scalar is a [`JsonKind::Run`] of
/// one token. For a reader that needs the shape (the formatter); `check`
/// and `compile` walk the tokens, which costs no memory.
pub fn literal_values(text: &str, offset: usize) -> Vec<Json> {
    literal_values_in(text, offset, false)
}

/// [`literal_values`] of text inside an object when `in_object` (a
/// [`Member::Run`]): the members' values.
pub fn literal_values_in(text: &str, offset: usize, in_object: bool) -> Vec<Json> {
    struct Open {
        start: usize,
        object: bool,
        members: Vec<Member>,
        items: Vec<Json>,
        key: Option<Spanned<ShortString>>,
    }
    let mut open: Vec<Open> = Vec::new();
    if in_object {
        open.push(Open {
            start: offset,
            object: true,
            members: Vec::new(),
            items: Vec::new(),
            key: None,
        });
    }
    let mut done = Vec::new();
    for t in literal_tokens_in(text, in_object) {
        let span = Span::new(offset + t.at, offset + t.at + t.text.len());
        let value = match t.role {
            LiteralRole::Open => {
                open.push(Open {
                    start: span.start as usize,
                    object: t.text == "{",
                    members: Vec::new(),
                    items: Vec::new(),
                    key: None,
                });
                continue;
            }
            LiteralRole::Key => {
                if let Some(top) = open.last_mut() {
                    top.key = Some(Spanned::new(literal_text(t.text).into(), span));
                }
                continue;
            }
            LiteralRole::Value => Json {
                kind: JsonKind::Run(t.text.into()),
                span,
            },
            LiteralRole::Close => {
                let Some(closed) = open.pop() else { continue };
                Json {
                    kind: if closed.object {
                        JsonKind::Object(closed.members)
                    } else {
                        JsonKind::Array(closed.items)
                    },
                    span: Span::new(closed.start, span.end as usize),
                }
            }
        };
        match open.last_mut() {
            Some(top) if top.object => {
                if let Some(key) = top.key.take() {
                    top.members.push(Member::One(key, value));
                }
            }
            Some(top) => top.items.push(value),
            None => done.push(value),
        }
    }
    if in_object {
        if let Some(run) = open.pop() {
            done.extend(run.members.into_iter().filter_map(|m| match m {
                Member::One(_, value) => Some(value),
                Member::Run(_) => None,
            }));
        }
    }
    done
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
        assert!(size_of::<Cond>() <= 16);
        assert!(size_of::<Block>() <= 24);
        assert!(size_of::<Branch>() <= 40);
        assert!(size_of::<If>() <= 40);
        assert!(size_of::<Node>() <= 32);
        assert!(size_of::<Operand>() <= 32);
        assert!(size_of::<Template>() <= 32);
        assert!(size_of::<Parts>() <= 24);
        assert!(size_of::<Part>() <= 40);
        assert!(size_of::<Merge>() <= 40);
        assert!(size_of::<Filter>() <= 48);
        assert!(size_of::<Json>() <= 40);
    }
}
