//! The only module that runs pest: the grammar, and the builder that turns
//! its pairs into the typed AST. How a file is cut into pieces and parsed
//! in parallel is [`super::pieces`]; how pest's errors are phrased,
//! `errors.rs`.
//!
//! The builder trusts the grammar: a pair it does not expect (a rule the
//! grammar gained without a builder arm, a missing child) is reported as
//! `campaign::internal::parser`, never skipped silently.

use pest::iterators::Pair;
use pest::Parser as _;

use gate::{run_pest, PestSettings};

use super::errors::syntax_error;
use super::pieces::{self, Collect, Items, Parsed};
use crate::diagnostics::{codes, did_you_mean, Diagnostic};
use crate::span::{Span, Spanned};
use crate::syntax::ast::*;
use crate::syntax::depth;
use crate::syntax::template::{parse_merge, parse_template};
use crate::syntax::units::{self, unit_millis, RateError};

mod grammar {
    #![allow(missing_docs)]
    use pest_derive::Parser;

    /// The files are read as one grammar, in this order.
    #[derive(Parser)]
    #[grammar = "../grammar/campaign.pest"]
    #[grammar = "../grammar/json_literal.pest"]
    pub(super) struct Grammar;
}
use grammar::Grammar;
pub(super) use grammar::Rule;

/// The same language without the literal-JSON rules, parsed only to report
/// a syntax error (grammar/json_strict.pest says why).
pub(super) mod strict {
    #![allow(missing_docs)]
    use pest_derive::Parser;

    #[derive(Parser)]
    #[grammar = "../grammar/campaign.pest"]
    #[grammar = "../grammar/json_strict.pest"]
    pub(in crate::syntax) struct Grammar;
}

mod gate;

/// The words that begin a top-level item: the steps and `trigger`. The
/// pre-scan looks for them at line starts; "unknown step" suggests them.
pub const STEP_KEYWORDS: &[&str] = &[
    "webhook", "tag", "field", "note", "wait", "if", "split", "stop", "goal", "trigger",
];

/// The webhook settings, for "unknown setting" suggestions.
pub const SETTING_KEYWORDS: &[&str] = &[
    "method", "url", "header", "post", "json", "timeout", "retry", "backoff", "rate", "on", "sign",
    "capture", "dynamic",
];

/// Largest source accepted, so byte offsets fit the `u32` spans.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024 * 1024;

/// Parses a whole file into a campaign, or reports every problem found.
pub fn parse(source: &str) -> Result<Campaign, Vec<Diagnostic>> {
    match parse_partial(source) {
        (Some(campaign), errors) if errors.is_empty() => Ok(campaign),
        (_, errors) => Err(errors),
    }
}

/// Parses as far as possible: after a syntax error there is no campaign, but
/// after errors inside well-formed syntax (an unknown method, a bad escape)
/// the campaign is returned with those parts left out, so the checks can
/// still report everything else.
pub fn parse_partial(source: &str) -> (Option<Campaign>, Vec<Diagnostic>) {
    let (parsed, errors) = parse_with(source, Items::default);
    (parsed.map(Parsed::into_campaign), errors)
}

/// [`parse`], and the spans of every token pest matched as a rule of its
/// own (keywords, words, strings, merges, numbers, units, timestamps,
/// operators), in file order, taken from the same parse. What lies between
/// two of them is punctuation and what the grammar skips (whitespace and
/// comments): [`super::tokens`] builds the lossless view from that.
pub fn parse_lossless(source: &str) -> Result<(Campaign, Vec<Span>), Vec<Diagnostic>> {
    match parse_inner(source, &Items::default, true) {
        Ok((parsed, errors, leaves)) if errors.is_empty() => {
            Ok((parsed.into_campaign(), leaves.unwrap_or_default()))
        }
        Ok((_, errors, _)) | Err(errors) => Err(errors),
    }
}

/// [`parse_partial`], handing the top-level items to collectors made by
/// `new` as they are built (see [`Collect`]) instead of keeping the tree.
pub fn parse_with<C: Collect>(
    source: &str,
    new: impl Fn() -> C + Sync,
) -> (Option<Parsed<C>>, Vec<Diagnostic>) {
    match parse_inner(source, &new, false) {
        Ok((parsed, errors, _)) => (Some(parsed), errors),
        Err(errors) => (None, errors),
    }
}

/// A parse's tree, its errors, and the token spans if `leaves` asked for
/// them.
type Inner<C> = (Parsed<C>, Vec<Diagnostic>, Option<Vec<Span>>);

fn parse_inner<C: Collect>(
    source: &str,
    new: &(impl Fn() -> C + Sync),
    leaves: bool,
) -> Result<Inner<C>, Vec<Diagnostic>> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(vec![Diagnostic::error(
            codes::SOURCE_TOO_LARGE,
            Span::new(0, 0),
            "this file is larger than 256 MiB",
        )
        .help("split the campaign into smaller files")]);
    }
    if source
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}')
        .is_empty()
    {
        return Err(vec![Diagnostic::error(
            codes::SYNTAX_EMPTY,
            Span::new(0, source.len()),
            "this file is empty",
        )
        .label("no campaign here")
        .help("a file holds one `campaign \"Name\" { ... }` block")]);
    }
    let layout = depth::prescan(source).map_err(|d| vec![d])?;
    let mut builder = Builder::new(PestSettings::for_source(source), 0);
    if leaves {
        builder.leaves = Some(Vec::new());
    }
    match pieces::campaign(&mut builder, source, &layout.seams, new) {
        Some(parsed) => Ok((parsed, builder.errors, builder.leaves)),
        None => Err(vec![syntax_error_of(source, builder.settings)]),
    }
}

/// Parses the whole file with pest's error detail on, for the message: the
/// expected literal tokens make it precise, and tracking them costs only on
/// this path.
fn syntax_error_of(source: &str, settings: PestSettings) -> Diagnostic {
    let detailed = PestSettings {
        error_detail: true,
        ..settings
    };
    match run_pest(detailed, || {
        strict::Grammar::parse(strict::Rule::file, source)
    }) {
        Err(err) => syntax_error(source, err),
        Ok(_) => Diagnostic::error(
            codes::INTERNAL_PARSER,
            Span::new(0, 0),
            "the file parses as a whole but not in pieces: a bug in the parser",
        )
        .label("the file")
        .help("please report it with the file"),
    }
}

/// Whether pest gives a pair of this rule for a whole token: an atomic
/// rule called where whitespace may surround it. Every other pair either
/// holds tokens or is silent punctuation around them. Exhaustive, so a new
/// rule must be placed.
fn is_token(rule: Rule) -> bool {
    match rule {
        Rule::word
        | Rule::string
        | Rule::merge
        | Rule::number
        | Rule::integer
        | Rule::duration_num
        | Rule::unit
        | Rule::timestamp
        | Rule::contact_added
        | Rule::compare_op
        | Rule::kw_campaign
        | Rule::kw_trigger
        | Rule::kw_webhook
        | Rule::kw_tag
        | Rule::kw_add
        | Rule::kw_remove
        | Rule::kw_field
        | Rule::kw_set
        | Rule::kw_note
        | Rule::kw_wait
        | Rule::kw_until
        | Rule::kw_if
        | Rule::kw_else
        | Rule::kw_split
        | Rule::kw_stop
        | Rule::kw_goal
        | Rule::kw_when
        | Rule::kw_has
        | Rule::kw_is
        | Rule::kw_not
        | Rule::kw_empty
        | Rule::kw_and
        | Rule::kw_or
        | Rule::kw_true
        | Rule::kw_false
        | Rule::kw_null
        | Rule::kw_method
        | Rule::kw_url
        | Rule::kw_header
        | Rule::kw_post
        | Rule::kw_json
        | Rule::kw_timeout
        | Rule::kw_retry
        | Rule::kw_backoff
        | Rule::kw_rate
        | Rule::kw_on
        | Rule::kw_failure
        | Rule::kw_continue
        | Rule::kw_sign
        | Rule::kw_secret
        | Rule::kw_capture
        | Rule::kw_dynamic
        | Rule::kw_host
        | Rule::kw_verify
        | Rule::kw_standard
        | Rule::kw_github
        | Rule::kw_none => true,
        // Inside WHITESPACE, which pest runs atomically: never a pair.
        Rule::comment => false,
        // Silent: never a pair.
        Rule::WHITESPACE
        | Rule::not_newline
        | Rule::ident_char
        | Rule::merge_quote
        | Rule::step
        | Rule::setting
        | Rule::json_value
        | Rule::json_item
        | Rule::json_body
        | Rule::member_value
        | Rule::json_scalar
        | Rule::json_blank
        | Rule::json_plain
        | Rule::lit_object
        | Rule::lit_member
        | Rule::lit_array
        | Rule::lit_value
        | Rule::run_item
        | Rule::member_item
        | Rule::run_member
        | Rule::flat_object
        | Rule::flat_member
        | Rule::flat_array
        | Rule::primary
        | Rule::operand => false,
        // Several tokens in one pair: [`Builder::record`] splits them.
        Rule::json_run | Rule::json_literal | Rule::json_flat | Rule::json_members => false,
        Rule::EOI
        | Rule::boolean
        | Rule::duration
        | Rule::file
        | Rule::campaign
        | Rule::campaign_head
        | Rule::campaign_items
        | Rule::campaign_close
        | Rule::close_brace
        | Rule::trivia
        | Rule::trigger
        | Rule::tag_added
        | Rule::webhook_received
        | Rule::verify
        | Rule::verify_standard
        | Rule::verify_github
        | Rule::block
        | Rule::tag_step
        | Rule::field_set
        | Rule::note
        | Rule::wait
        | Rule::wait_until
        | Rule::stop
        | Rule::goal
        | Rule::if_step
        | Rule::else_if
        | Rule::else_block
        | Rule::split
        | Rule::percent
        | Rule::webhook
        | Rule::method_setting
        | Rule::url_setting
        | Rule::header_setting
        | Rule::header_value
        | Rule::secret
        | Rule::post_setting
        | Rule::json_setting
        | Rule::timeout_setting
        | Rule::retry_setting
        | Rule::backoff_setting
        | Rule::rate_setting
        | Rule::on_failure_setting
        | Rule::sign_setting
        | Rule::capture_setting
        | Rule::capture_json
        | Rule::capture_header
        | Rule::dynamic_host_setting
        | Rule::json_object
        | Rule::json_member
        | Rule::json_array
        | Rule::cond
        | Rule::and_chain
        | Rule::negation
        | Rule::has_tag
        | Rule::comparison
        | Rule::is_empty
        | Rule::is_not_empty => false,
    }
}

/// Where a pair's text really ends. A rule that ends in an optional or
/// repeated part (`else_if*`, `(kw_or ~ and_chain)*`, a comparison's
/// operator) keeps the whitespace and comments pest skipped while looking
/// for that part, so its span would run on to the next token; it ends where
/// its last inner pair does instead.
fn tight_end(pair: &Pair<'_, Rule>) -> usize {
    let end = pair.as_span().end();
    let last = || pair.clone().into_inner().last();
    match pair.as_rule() {
        Rule::if_step
        | Rule::cond
        | Rule::and_chain
        | Rule::comparison
        | Rule::header_value
        | Rule::trigger => last().map_or(end, |last| tight_end(&last)),
        // `not (a or b)` ends at its parenthesis; `not [A]` at the merge.
        Rule::negation => match last() {
            Some(last) if last.as_rule() == Rule::comparison => tight_end(&last),
            _ => end,
        },
        _ => end,
    }
}

/// Builds the AST from pairs, collecting errors so one run reports all of
/// them.
pub(super) struct Builder {
    pub(super) errors: Vec<Diagnostic>,
    /// Where in the file the piece being built starts: pairs count from the
    /// start of the text pest was given.
    pub(super) offset: usize,
    settings: PestSettings,
    /// The spans of the token pairs seen, in file order, when the caller
    /// asked for them ([`parse_lossless`]); `None` costs nothing.
    pub(super) leaves: Option<Vec<Span>>,
}

impl Builder {
    fn new(settings: PestSettings, offset: usize) -> Builder {
        Builder {
            errors: Vec::new(),
            offset,
            settings,
            leaves: None,
        }
    }

    /// A builder for a stretch starting at `offset`, with these settings,
    /// recording token spans if this one does.
    pub(super) fn clone_at(&self, offset: usize) -> Builder {
        let mut builder = Builder::new(self.settings, offset);
        if self.leaves.is_some() {
            builder.leaves = Some(Vec::new());
        }
        builder
    }

    /// Records the token pairs under `pair` (see [`is_token`]), when asked
    /// to.
    fn record(&mut self, pair: &Pair<'_, Rule>) {
        if let Some(leaves) = &mut self.leaves {
            let offset = self.offset;
            for p in pair.clone().into_inner().flatten() {
                let start = offset + p.as_span().start();
                let literal = match p.as_rule() {
                    Rule::json_run | Rule::json_literal | Rule::json_flat => Some(false),
                    Rule::json_members => Some(true),
                    _ => None,
                };
                if let Some(in_object) = literal {
                    // Brackets are punctuation between tokens.
                    for t in literal_tokens_in(p.as_str(), in_object) {
                        if matches!(t.role, LiteralRole::Key | LiteralRole::Value) {
                            leaves.push(Span::new(start + t.at, start + t.at + t.text.len()));
                        }
                    }
                } else if is_token(p.as_rule()) {
                    leaves.push(Span::new(start, offset + p.as_span().end()));
                }
            }
        }
    }

    #[cfg(test)]
    pub(super) fn for_test(offset: usize) -> Builder {
        Builder::new(
            PestSettings {
                call_limit: usize::MAX,
                error_detail: false,
            },
            offset,
        )
    }

    fn parse<'i>(&self, rule: Rule, input: &'i str) -> Option<Pair<'i, Rule>> {
        run_pest(self.settings, || Grammar::parse(rule, input))
            .ok()?
            .next()
    }

    /// Parses `campaign "Name" {`: the keyword's span and the name. Leaves
    /// the offset after the brace.
    pub(super) fn head(&mut self, source: &str) -> Option<(Span, Spanned<ShortString>)> {
        let head = self.parse(Rule::campaign_head, source)?;
        self.record(&head);
        let head_end = head.as_span().end();
        let span = self.span(&head);
        let mut inner = head.into_inner();
        let keyword = self.child(inner.next(), span)?;
        let keyword = self.span(&keyword);
        let name = self.child(inner.next(), span)?;
        let name = self.name(name);
        self.offset = head_end;
        Some((keyword, name))
    }

    /// Parses the closing brace at the offset, to the end of the file: its
    /// span.
    pub(super) fn close(&mut self, source: &str) -> Option<Span> {
        let close = self.parse(Rule::campaign_close, &source[self.offset..])?;
        let span = self.span(&close);
        let brace = self.child(close.into_inner().next(), span)?;
        Some(self.span(&brace))
    }

    /// Whether `text` is only whitespace and comments.
    pub(super) fn only_trivia(&self, text: &str) -> bool {
        self.parse(Rule::trivia, text).is_some()
    }

    /// Parses top-level items from the offset, seeing the source only up
    /// to `end`, a piece of up to 64 at a time handed to `sink`, and leaves
    /// the offset after the last one. Returns how many there were.
    pub(super) fn items<C: Collect>(
        &mut self,
        source: &str,
        end: usize,
        sink: &mut C,
    ) -> Option<usize> {
        let mut count = 0;
        let mut piece = Items::default();
        loop {
            let items = self.parse(Rule::campaign_items, &source[self.offset..end])?;
            self.record(&items);
            let stop = items.as_span().end();
            let before = count;
            for item in items.into_inner() {
                count += 1;
                if item.as_rule() == Rule::trigger {
                    if let Some(t) = self.trigger(item) {
                        piece.triggers.push(t);
                    }
                } else if let Some(step) = self.step(item) {
                    piece.steps.push(step);
                }
            }
            sink.take(&mut piece);
            piece.triggers.clear();
            piece.steps.clear();
            self.offset += stop;
            if count == before {
                return Some(count);
            }
        }
    }

    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        Span::new(
            self.offset + pair.as_span().start(),
            self.offset + tight_end(pair),
        )
    }

    /// The text of a string or merge pair between its one-byte delimiters,
    /// and where in the file that text starts.
    fn delimited<'i>(&self, pair: &Pair<'i, Rule>) -> (&'i str, usize) {
        let text = pair.as_str();
        let inner = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
        (inner, self.offset + pair.as_span().start() + 1)
    }

    /// A child pair the grammar guarantees (`parent` is where its parent
    /// stands); a missing one is reported as a bug in the parser.
    fn child<'i>(&mut self, child: Option<Pair<'i, Rule>>, parent: Span) -> Option<Pair<'i, Rule>> {
        if child.is_none() {
            self.errors.push(internal(
                parent,
                "a part the grammar always gives is missing here".to_string(),
            ));
        }
        child
    }

    /// Reports a pair of a rule the builder has no arm for where it stands.
    fn unexpected(&mut self, pair: &Pair<'_, Rule>, context: &str) {
        let rule = pair.as_rule();
        self.errors.push(internal(
            self.span(pair),
            format!("the grammar gave `{rule:?}` where the parser builds {context}"),
        ));
    }

    fn trigger(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Trigger>> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let kind = self.child(inner.nth(1), span)?;
        let trigger = match kind.as_rule() {
            Rule::contact_added => Trigger::ContactAdded,
            Rule::tag_added => Trigger::TagAdded(self.trigger_name(kind)?),
            Rule::webhook_received => {
                let path = self.trigger_name(kind)?;
                let verify = match inner.next() {
                    Some(clause) => Some(self.verify(clause)?),
                    None => None,
                };
                Trigger::WebhookReceived { path, verify }
            }
            _ => {
                self.unexpected(&kind, "a trigger");
                return None;
            }
        };
        Some(Spanned::new(trigger, span))
    }

    /// `verify standard secret("NAME")`, `verify github secret("NAME")` or
    /// `verify none`.
    fn verify(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Verify>> {
        let span = self.span(&pair);
        if pair.as_rule() != Rule::verify {
            self.unexpected(&pair, "a `verify` clause");
            return None;
        }
        let how = self.child(pair.into_inner().nth(1), span)?;
        let verify = match how.as_rule() {
            Rule::kw_none => Verify::None,
            Rule::verify_standard | Rule::verify_github => {
                let at = self.span(&how);
                let rule = how.as_rule();
                let secret = self.child(how.into_inner().nth(1), at)?;
                let secret = self.secret(secret)?;
                if rule == Rule::verify_standard {
                    Verify::Standard(secret)
                } else {
                    Verify::Github(secret)
                }
            }
            _ => {
                self.unexpected(&how, "a `verify` clause");
                return None;
            }
        };
        Some(Spanned::new(verify, span))
    }

    /// The string of `tag_added "Tag"` or `webhook_received "/path"`.
    fn trigger_name(&mut self, kind: Pair<'_, Rule>) -> Option<Spanned<ShortString>> {
        let span = self.span(&kind);
        let string = kind.into_inner().find(|p| p.as_rule() == Rule::string);
        let string = self.child(string, span)?;
        Some(self.name(string))
    }

    /// A string that must be literal text (names, header names, pointers).
    fn name(&mut self, pair: Pair<'_, Rule>) -> Spanned<ShortString> {
        let template = self.template(pair);
        match template.as_literal() {
            Some(text) => Spanned::new(text, template.span),
            None => {
                let at = template.merges().next().map_or(template.span, |m| m.span());
                self.errors.push(
                    Diagnostic::error(
                        codes::SYNTAX_MERGE_NOT_ALLOWED,
                        at,
                        "this name cannot merge contact fields",
                    )
                    .label("merge field in a name")
                    .help("names, header names and secret names are fixed text; write `\\[` for a literal bracket"),
                );
                Spanned::new(ShortString::default(), template.span)
            }
        }
    }

    fn template(&mut self, pair: Pair<'_, Rule>) -> Template {
        let span = self.span(&pair);
        let (raw, offset) = self.delimited(&pair);
        match parse_template(raw, offset, span) {
            Ok(t) => t,
            Err(errors) => {
                self.errors.extend(errors);
                Template::new(Vec::new(), span)
            }
        }
    }

    fn merge(&mut self, pair: Pair<'_, Rule>) -> Option<Merge> {
        let span = self.span(&pair);
        let (raw, offset) = self.delimited(&pair);
        match parse_merge(raw, offset, span) {
            Ok(m) => Some(m),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// A merge naming a field to write: filters make no sense there.
    fn target_field(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<ShortString>> {
        let merge = self.merge(pair)?;
        if let Some(filter) = merge.filters().first() {
            self.errors.push(
                Diagnostic::error(
                    codes::SYNTAX_FILTER_ON_TARGET,
                    filter.span(),
                    "a field being written cannot take filters",
                )
                .label("filter on the field written")
                .help("put filters on the value instead: `field set [Status] = [Other | upper]`"),
            );
        }
        Some(merge.field)
    }

    fn block(&mut self, pair: Pair<'_, Rule>) -> Block {
        let span = self.span(&pair);
        let steps = fitted_slice(pair.into_inner().filter_map(|p| self.step(p)).collect());
        Block { steps, span }
    }

    fn step(&mut self, pair: Pair<'_, Rule>) -> Option<Step> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        let first = self.child(inner.next(), span)?;
        let mut keyword = self.span(&first);
        let kind = match rule {
            Rule::webhook => {
                let name = self.child(inner.next(), span)?;
                let name = self.name(name);
                let settings = fitted(inner.filter_map(|s| self.setting(s)).collect());
                StepKind::Webhook(Box::new(Webhook { name, settings }))
            }
            Rule::tag_step => {
                let op = self.child(inner.next(), span)?;
                keyword = keyword.to(self.span(&op));
                let op = match op.as_rule() {
                    Rule::kw_add => TagOp::Add,
                    Rule::kw_remove => TagOp::Remove,
                    _ => {
                        self.unexpected(&op, "`add` or `remove`");
                        return None;
                    }
                };
                let name = self.child(inner.next(), span)?;
                StepKind::Tag {
                    op,
                    name: self.template(name),
                }
            }
            Rule::field_set => {
                let set = self.child(inner.next(), span)?;
                keyword = keyword.to(self.span(&set));
                let field = self.child(inner.next(), span)?;
                let field = self.target_field(field)?;
                let value = self.child(inner.next(), span)?;
                let value = self.operand(value)?;
                StepKind::FieldSet(Box::new(FieldSet { field, value }))
            }
            Rule::note => {
                let text = self.child(inner.next(), span)?;
                StepKind::Note(self.template(text))
            }
            Rule::wait => {
                let what = self.child(inner.next(), span)?;
                StepKind::Wait(match what.as_rule() {
                    Rule::wait_until => {
                        let at = self.span(&what);
                        let target = self.child(what.into_inner().nth(1), at)?;
                        Wait::Until(Box::new(self.operand(target)?))
                    }
                    Rule::duration => Wait::For(self.duration(what)?),
                    _ => {
                        self.unexpected(&what, "a wait");
                        return None;
                    }
                })
            }
            Rule::if_step => {
                let cond = self.child(inner.next(), span)?;
                let cond = self.cond(cond);
                let body = self.child(inner.next(), span)?;
                let body = self.block(body);
                let mut branches = vec![Branch { cond, body }];
                let mut otherwise = None;
                for arm in inner {
                    let at = self.span(&arm);
                    match arm.as_rule() {
                        Rule::else_if => {
                            let mut parts = arm.into_inner().skip(2);
                            let cond = self.child(parts.next(), at)?;
                            let cond = self.cond(cond);
                            let body = self.child(parts.next(), at)?;
                            let body = self.block(body);
                            branches.push(Branch { cond, body });
                        }
                        Rule::else_block => {
                            let block = self.child(arm.into_inner().nth(1), at)?;
                            otherwise = Some(self.block(block));
                        }
                        _ => self.unexpected(&arm, "`else`"),
                    }
                }
                StepKind::If(Box::new(If {
                    branches: fitted_slice(branches),
                    otherwise,
                }))
            }
            Rule::split => {
                let percent = self.child(inner.next(), span)?;
                let percent = self.percent(percent);
                let first = self.child(inner.next(), span)?;
                let first = self.block(first);
                let otherwise = self.child(inner.nth(1), span)?;
                let otherwise = self.block(otherwise);
                StepKind::Split(Box::new(Split {
                    percent,
                    first,
                    otherwise,
                }))
            }
            Rule::stop => StepKind::Stop,
            Rule::goal => {
                let name = self.child(inner.next(), span)?;
                let name = self.name(name);
                let cond = self.child(inner.nth(1), span)?;
                let cond = self.cond(cond);
                StepKind::Goal(Box::new(Goal { name, cond }))
            }
            _ => {
                let at = self.span(&first);
                self.errors.push(internal(
                    at,
                    format!("the grammar gave `{rule:?}` where the parser builds a step"),
                ));
                return None;
            }
        };
        Some(Step {
            kind,
            span,
            keyword,
        })
    }

    fn percent(&mut self, pair: Pair<'_, Rule>) -> Spanned<u8> {
        let span = self.span(&pair);
        let digits = pair.as_str().trim_end_matches('%');
        match digits.parse::<u8>() {
            Ok(n) if n <= 100 => Spanned::new(n, span),
            _ => {
                self.errors.push(
                    Diagnostic::error(codes::SPLIT_PERCENT, span, "a split takes 0% to 100%")
                        .label("out of range")
                        .help("write the share of contacts that take the first block, e.g. `split 30% { ... } else { ... }`"),
                );
                Spanned::new(0, span)
            }
        }
    }

    fn duration(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Duration>> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let number = self.child(inner.next(), span)?;
        let unit = self.child(inner.next(), span)?;
        let per_unit = match unit_millis(unit.as_str()) {
            Some(ms) => ms,
            None => {
                self.errors
                    .push(unknown_unit(unit.as_str(), self.span(&unit)));
                return None;
            }
        };
        let value: f64 = self.number(&number)?;
        let millis = (value * per_unit as f64).round();
        // Ten years: longer is surely a typo, and it keeps clocks far from overflow.
        if millis > 10.0 * 366.0 * 86_400_000.0 {
            self.errors.push(
                Diagnostic::error(
                    codes::SYNTAX_DURATION_RANGE,
                    span,
                    "this duration is longer than ten years",
                )
                .label("too long")
                .help("use a shorter duration or `wait until` a date"),
            );
            return None;
        }
        Some(Spanned::new(
            Duration {
                millis: millis as u64,
            },
            span,
        ))
    }

    fn operand(&mut self, pair: Pair<'_, Rule>) -> Option<Operand> {
        let span = self.span(&pair);
        Some(match pair.as_rule() {
            Rule::merge => Operand::Merge(Box::new(self.merge(pair)?)),
            Rule::string => Operand::Text(self.template(pair)),
            Rule::number => Operand::Number(Spanned::new(self.number(&pair)?, span)),
            Rule::boolean => Operand::Bool(Spanned::new(pair.as_str() == "true", span)),
            Rule::timestamp => match chrono::DateTime::parse_from_rfc3339(pair.as_str()) {
                Ok(t) => Operand::Timestamp(Spanned::new(t.timestamp(), span)),
                Err(_) => {
                    self.errors.push(
                        Diagnostic::error(codes::SYNTAX_TIMESTAMP, span, "this is not an RFC 3339 date and time")
                            .label("not a valid timestamp")
                            .help("write the date, time and offset in full, e.g. `2026-12-01T09:00:00Z` or `2026-12-01T09:00:00-05:00`"),
                    );
                    return None;
                }
            },
            _ => {
                self.unexpected(&pair, "a value");
                return None;
            }
        })
    }

    /// A number the grammar accepted, as `f64`.
    fn number(&mut self, pair: &Pair<'_, Rule>) -> Option<f64> {
        let number = pair.as_str().parse().ok();
        if number.is_none() {
            self.unexpected(pair, "a number");
        }
        number
    }

    fn cond(&mut self, pair: Pair<'_, Rule>) -> Cond {
        let mut nodes = CondBuilder::default();
        self.cond_into(pair, &mut nodes);
        nodes.finish()
    }

    /// Pushes the condition `pair` onto `nodes`; where part of it does not
    /// build, that part is `false` (the error is recorded).
    fn cond_into(&mut self, pair: Pair<'_, Rule>, nodes: &mut CondBuilder) {
        let span = self.span(&pair);
        let mark = nodes.mark();
        let built = match pair.as_rule() {
            Rule::cond | Rule::and_chain => {
                let group = if pair.as_rule() == Rule::cond {
                    Group::Or
                } else {
                    Group::And
                };
                let items = pair
                    .into_inner()
                    .filter(|p| !matches!(p.as_rule(), Rule::kw_or | Rule::kw_and));
                // One item is that item, with no group around it.
                let open = items
                    .clone()
                    .nth(1)
                    .is_some()
                    .then(|| nodes.open(group, span));
                let mut any = false;
                for p in items {
                    self.cond_into(p, nodes);
                    any = true;
                }
                if let Some(at) = open {
                    nodes.close(at);
                }
                any
            }
            Rule::negation => {
                let mut nots = 0;
                let mut primary = None;
                for p in pair.into_inner() {
                    if p.as_rule() == Rule::kw_not {
                        nots += 1;
                    } else {
                        primary = Some(p);
                    }
                }
                match self.child(primary, span) {
                    Some(primary) => {
                        let open = (nots % 2 == 1).then(|| nodes.open(Group::Not, span));
                        self.cond_into(primary, nodes);
                        if let Some(at) = open {
                            nodes.close(at);
                        }
                        true
                    }
                    None => false,
                }
            }
            Rule::has_tag => match self.child(pair.into_inner().nth(2), span) {
                Some(tag) => {
                    let tag = self.template(tag);
                    nodes.has_tag(tag, span);
                    true
                }
                None => false,
            },
            Rule::comparison => self.comparison(pair, span, nodes),
            _ => {
                self.unexpected(&pair, "a condition");
                false
            }
        };
        if !built {
            nodes.truncate(mark);
            nodes.push_false(span);
        }
    }

    /// `a OP b`, `a is empty` or a bare `a`; `false` when it did not build.
    fn comparison(&mut self, pair: Pair<'_, Rule>, span: Span, nodes: &mut CondBuilder) -> bool {
        let mut inner = pair.into_inner();
        let left = self.child(inner.next(), span);
        let Some(left) = left.and_then(|p| self.operand(p)) else {
            return false;
        };
        match inner.next() {
            None => nodes.truthy(left, span),
            Some(p) if p.as_rule() == Rule::is_empty => nodes.is_empty(left, false, span),
            Some(p) if p.as_rule() == Rule::is_not_empty => nodes.is_empty(left, true, span),
            Some(op) => {
                let op_span = self.span(&op);
                let op = match op.as_str() {
                    "==" => CompareOp::Eq,
                    "!=" => CompareOp::Ne,
                    "<" => CompareOp::Lt,
                    "<=" => CompareOp::Le,
                    ">" => CompareOp::Gt,
                    ">=" => CompareOp::Ge,
                    "contains" => CompareOp::Contains,
                    "starts_with" => CompareOp::StartsWith,
                    "ends_with" => CompareOp::EndsWith,
                    _ => {
                        self.unexpected(&op, "a comparison");
                        return false;
                    }
                };
                let right = self.child(inner.next(), span);
                let Some(right) = right.and_then(|p| self.operand(p)) else {
                    return false;
                };
                nodes.compare(left, Spanned::new(op, op_span), right, span);
            }
        }
        true
    }

    fn setting(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Setting>> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        inner.next(); // the keyword
        let setting = match rule {
            Rule::method_setting => {
                let word = self.child(inner.next(), span)?;
                let method = match word.as_str().to_ascii_uppercase().as_str() {
                    "GET" => Method::Get,
                    "POST" => Method::Post,
                    "PUT" => Method::Put,
                    "PATCH" => Method::Patch,
                    "DELETE" => Method::Delete,
                    other => {
                        let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
                        let help = match did_you_mean(other, methods) {
                            Some(m) => format!("did you mean `{m}`?"),
                            None => "methods are GET, POST, PUT, PATCH and DELETE".to_string(),
                        };
                        self.errors.push(
                            Diagnostic::error(
                                codes::WEBHOOK_METHOD,
                                self.span(&word),
                                format!("unknown HTTP method `{}`", word.as_str()),
                            )
                            .label("not a method")
                            .help(help),
                        );
                        return None;
                    }
                };
                Setting::Method(method)
            }
            Rule::url_setting => {
                let url = self.child(inner.next(), span)?;
                Setting::Url(self.template(url))
            }
            Rule::header_setting => {
                let name = self.child(inner.next(), span)?;
                let name = self.name(name);
                let value = self.child(inner.next(), span)?;
                let value = value
                    .into_inner()
                    .filter_map(|piece| match piece.as_rule() {
                        Rule::secret => self.secret(piece).map(HeaderPiece::Secret),
                        Rule::string => Some(HeaderPiece::Text(self.template(piece))),
                        _ => {
                            self.unexpected(&piece, "a header value");
                            None
                        }
                    })
                    .collect();
                let value = fitted(value);
                Setting::Header { name, value }
            }
            Rule::post_setting => {
                let post = self.child(inner.next(), span)?;
                Setting::Post(self.template(post))
            }
            Rule::json_setting => {
                let json = self.child(inner.next(), span)?;
                Setting::Json(self.json(json))
            }
            Rule::timeout_setting => {
                let duration = self.child(inner.next(), span)?;
                Setting::Timeout(self.duration(duration)?.node)
            }
            Rule::backoff_setting => {
                let duration = self.child(inner.next(), span)?;
                Setting::Backoff(self.duration(duration)?.node)
            }
            Rule::retry_setting => {
                let n = self.child(inner.next(), span)?;
                match n.as_str().parse::<u32>() {
                    Ok(n) if n <= 100 => Setting::Retry(n),
                    _ => {
                        self.errors.push(
                            Diagnostic::error(codes::WEBHOOK_RETRY, self.span(&n), "`retry` takes 0 to 100")
                                .label("out of range")
                                .help("retries back off exponentially; a handful is plenty, e.g. `retry 3`"),
                        );
                        return None;
                    }
                }
            }
            Rule::rate_setting => {
                let count = self.child(inner.next(), span)?;
                let unit = self.child(inner.next(), span)?;
                // The same reading as `--rate` (syntax/units.rs).
                match units::rate_from_parts(count.as_str(), unit.as_str()) {
                    Ok(rate) => Setting::Rate(Rate {
                        count: rate.count,
                        per_millis: rate.per_millis,
                    }),
                    Err(RateError::Unit(other)) => {
                        self.errors.push(
                            Diagnostic::error(
                                codes::WEBHOOK_RATE,
                                self.span(&unit),
                                format!("unknown rate period `{other}`"),
                            )
                            .label("not a period")
                            .help("write a rate as requests per unit of time: `rate 10/s`, `rate 600/minute`, `rate 1000/h`"),
                        );
                        return None;
                    }
                    Err(e) => {
                        let message = if e == RateError::TooLarge {
                            "a rate allows at most 4294967295 requests per period"
                        } else {
                            "a rate needs at least one request per period"
                        };
                        self.errors.push(
                            Diagnostic::error(codes::WEBHOOK_RATE, self.span(&count), message)
                                .label("out of range")
                                .help("e.g. `rate 10/s`"),
                        );
                        return None;
                    }
                }
            }
            Rule::on_failure_setting => {
                let what = self.child(inner.nth(1), span)?;
                Setting::OnFailure(match what.as_rule() {
                    Rule::kw_continue => OnFailure::Continue,
                    Rule::kw_stop => OnFailure::Stop,
                    _ => {
                        self.unexpected(&what, "`continue` or `stop`");
                        return None;
                    }
                })
            }
            Rule::sign_setting => {
                let secret = self.child(inner.next(), span)?;
                Setting::Sign(self.secret(secret)?)
            }
            Rule::capture_setting => {
                let field = self.child(inner.next(), span)?;
                let field = self.target_field(field)?;
                let source = self.child(inner.next(), span)?;
                let at = self.span(&source);
                let rule = source.as_rule();
                let arg = self.child(source.clone().into_inner().nth(1), at)?;
                let arg = self.name(arg);
                let source = match rule {
                    Rule::capture_json => CaptureSource::JsonPointer(arg),
                    Rule::capture_header => CaptureSource::Header(arg),
                    _ => {
                        self.unexpected(&source, "a capture");
                        return None;
                    }
                };
                Setting::Capture { field, source }
            }
            Rule::dynamic_host_setting => Setting::DynamicHost,
            _ => {
                let at = span;
                self.errors.push(internal(
                    at,
                    format!(
                        "the grammar gave `{rule:?}` where the parser builds a webhook setting"
                    ),
                ));
                return None;
            }
        };
        Some(Spanned::new(setting, span))
    }

    fn secret(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<ShortString>> {
        let span = self.span(&pair);
        let name = self.child(pair.into_inner().nth(1), span)?;
        let name = self.name(name);
        Some(Spanned::new(name.node, span))
    }

    fn json(&mut self, pair: Pair<'_, Rule>) -> Json {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::json_object => JsonKind::Object(fitted(
                pair.into_inner()
                    .filter_map(|member| {
                        let at = self.span(&member);
                        if member.as_rule() == Rule::json_members {
                            return Some(Member::Run(Spanned::new(member.as_str().into(), at)));
                        }
                        let mut kv = member.into_inner();
                        let key = self.child(kv.next(), at)?;
                        let key = self.name(key);
                        let value = self.child(kv.next(), at)?;
                        Some(Member::One(key, self.json(value)))
                    })
                    .collect(),
            )),
            Rule::json_array => {
                JsonKind::Array(fitted(pair.into_inner().map(|v| self.json(v)).collect()))
            }
            Rule::string => JsonKind::Str(self.template(pair)),
            Rule::merge => match self.merge(pair) {
                // `[1, 2]` that failed to be an array is not a field named "1, 2".
                Some(m) if m.field.contains(',') || m.field.parse::<f64>().is_ok() => {
                    self.errors.push(
                        Diagnostic::error(
                            codes::JSON_NOT_A_FIELD,
                            m.span(),
                            format!("`{}` is neither a JSON array nor a field name", &*m.field),
                        )
                        .label("read as a merge field")
                        .help("a JSON array holds JSON values: numbers, \"strings\", true/false/null, objects, arrays or merges like `[Email]`"),
                    );
                    JsonKind::Null
                }
                Some(m) => JsonKind::Merge(Box::new(m)),
                None => JsonKind::Null,
            },
            Rule::json_run => JsonKind::Run(pair.as_str().into()),
            Rule::json_literal | Rule::json_flat => JsonKind::Literal(pair.as_str().into()),
            Rule::number => JsonKind::Number(pair.as_str().into()),
            Rule::kw_true => JsonKind::Bool(true),
            Rule::kw_false => JsonKind::Bool(false),
            Rule::kw_null => JsonKind::Null,
            _ => {
                self.unexpected(&pair, "a JSON value");
                JsonKind::Null
            }
        };
        Json { kind, span }
    }
}

/// A bug in the parser, where it shows: never a silent gap in the tree.
fn internal(at: Span, message: String) -> Diagnostic {
    Diagnostic::error(codes::INTERNAL_PARSER, at, message)
        .label("the parser cannot build this")
        .help("this is a bug in campaign, not in the script; please report it with the file")
}

/// Plurals first, so a near miss suggests the plural (`dayz` -> `days`).
const UNITS: &[&str] = &[
    "milliseconds",
    "seconds",
    "minutes",
    "hours",
    "days",
    "weeks",
    "millisecond",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "ms",
    "s",
    "m",
    "h",
    "d",
    "w",
];

fn unknown_unit(unit: &str, span: Span) -> Diagnostic {
    let help = match did_you_mean(unit, UNITS.iter().copied().filter(|u| u.len() > 2)) {
        Some(u) => format!("did you mean `{u}`?"),
        None => "units are milliseconds, seconds, minutes, hours, days and weeks (singular, plural or ms/s/m/h/d/w)".into(),
    };
    Diagnostic::error(
        codes::SYNTAX_UNIT,
        span,
        format!("unknown time unit `{unit}`"),
    )
    .label("not a unit")
    .help(help)
}

#[cfg(test)]
pub(super) fn whole_file_span(text: &str) -> Option<Span> {
    let file = Grammar::parse(Rule::file, text).ok()?.next()?;
    let campaign = file.into_inner().find(|p| p.as_rule() == Rule::campaign)?;
    Some(Builder::for_test(0).span(&campaign))
}

/// Where the body of the campaign in `text` starts, if its head parses.
#[cfg(test)]
pub(super) fn head_end(text: &str) -> Option<usize> {
    let head = Grammar::parse(Rule::campaign_head, text).ok()?.next()?;
    Some(head.as_span().end())
}

#[cfg(test)]
mod tests;
