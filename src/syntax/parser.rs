//! The only module that sees pest: it runs the grammar and turns pairs into
//! the typed AST, and turns pest's errors into diagnostics phrased in the
//! language's words.

use std::num::NonZeroUsize;

use crate::diagnostics::{codes, did_you_mean, Diagnostic};
use crate::span::{Span, Spanned};
use crate::syntax::ast::*;
use crate::syntax::depth;
use crate::syntax::template::{parse_merge, parse_template};
use crate::syntax::units::{self, unit_millis, RateError};
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;

mod grammar {
    #![allow(missing_docs)]
    use pest_derive::Parser;

    #[derive(Parser)]
    #[grammar = "../grammar/campaign.pest"]
    pub(super) struct Grammar;
}
use grammar::{Grammar, Rule};

/// The step keywords, for "unknown step" suggestions.
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
    match parse_inner(source) {
        Ok((campaign, errors)) => (Some(campaign), errors),
        Err(errors) => (None, errors),
    }
}

fn parse_inner(source: &str) -> Result<(Campaign, Vec<Diagnostic>), Vec<Diagnostic>> {
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
    // Generous for real files (a few dozen calls per byte), but it stops a
    // pathological backtracking input in bounded time.
    let limit = source.len().saturating_mul(200).saturating_add(100_000);
    pest::set_call_limit(NonZeroUsize::new(limit));
    let mut builder = Builder::default();
    match builder.campaign(source, &layout.seams) {
        Some(campaign) => Ok((campaign, builder.errors)),
        None => Err(vec![syntax_error_of(source)]),
    }
}

/// Parses the whole file with pest's error detail on, for the message: the
/// expected literal tokens make it precise, and tracking them costs only on
/// this path.
fn syntax_error_of(source: &str) -> Diagnostic {
    pest::set_error_detail(true);
    let err = Grammar::parse(Rule::file, source).err();
    pest::set_error_detail(false);
    match err {
        Some(err) => syntax_error(source, err),
        None => Diagnostic::error(
            codes::SYNTAX_UNEXPECTED,
            Span::new(0, 0),
            "the file could not be parsed",
        ),
    }
}

/// Top-level triggers and steps, in source order.
#[derive(Default)]
struct Items {
    triggers: Vec<Spanned<Trigger>>,
    steps: Vec<Step>,
}

/// Files whose body is smaller than this per thread are parsed on one.
const MIN_STRETCH: usize = 64 * 1024;

/// How many threads a parse may use.
fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Where to cut a body running from `start` to `end` into about `threads`
/// equal stretches: `start`, the first seam past each share, then `end`.
fn cuts(seams: &[usize], start: usize, end: usize, threads: usize) -> Vec<usize> {
    let threads = threads.min((end - start) / MIN_STRETCH).max(1);
    let mut cuts = vec![start];
    for k in 1..threads {
        let target = start + (end - start) * k / threads;
        let at = seams.partition_point(|&s| s < target);
        match seams.get(at) {
            Some(&seam) if seam > *cuts.last().unwrap_or(&start) => cuts.push(seam),
            _ => {}
        }
    }
    cuts.push(end);
    cuts
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
        Rule::if_step | Rule::cond | Rule::and_chain | Rule::comparison | Rule::header_value => {
            last().map_or(end, |last| tight_end(&last))
        }
        // `not (a or b)` ends at its parenthesis; `not [A]` at the merge.
        Rule::negation => match last() {
            Some(last) if last.as_rule() == Rule::comparison => tight_end(&last),
            _ => end,
        },
        _ => end,
    }
}

/// Collects errors while building, so one run reports all of them.
#[derive(Default)]
struct Builder {
    errors: Vec<Diagnostic>,
    /// Where in the file the piece being built starts: pairs count from the
    /// start of the text pest was given.
    offset: usize,
}

impl Builder {
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

    /// Builds the campaign from its pieces (see `campaign_head` in the
    /// grammar): pest's token queue then holds up to 64 top-level items at a
    /// time instead of the whole file, which keeps a large file's parse in
    /// cache. A large body is also cut at `seams` and its stretches parsed
    /// on as many threads as the machine has. `None` when the syntax is
    /// wrong; `file` then says where.
    fn campaign(&mut self, source: &str, seams: &[usize]) -> Option<Campaign> {
        self.campaign_cut(source, |start| {
            cuts(seams, start, source.len(), parallelism())
        })
    }

    /// [`Builder::campaign`], with the body cut where `cut` says given
    /// where the body starts.
    fn campaign_cut(
        &mut self,
        source: &str,
        cut: impl FnOnce(usize) -> Vec<usize>,
    ) -> Option<Campaign> {
        let head = Grammar::parse(Rule::campaign_head, source).ok()?.next()?;
        let head_end = head.as_span().end();
        let mut inner = head.into_inner();
        let keyword = self.span(&inner.next()?); // kw_campaign
        let name = self.name(inner.next());
        self.offset = head_end;
        let items = match self.items_in_parallel(source, &cut(head_end)) {
            Some(items) => items,
            None => {
                let mut items = Items::default();
                self.items(source, source.len(), &mut items)?;
                items.steps.shrink_to_fit();
                items
            }
        };
        let close = Grammar::parse(Rule::campaign_close, &source[self.offset..])
            .ok()?
            .next()?
            .into_inner()
            .next()?;
        let span = keyword.to(self.span(&close));
        self.offset = 0;
        Some(Campaign {
            name,
            triggers: items.triggers,
            steps: items.steps,
            span,
        })
    }

    /// Parses top-level items from `self.offset`, seeing the source only up
    /// to `end`, and leaves `self.offset` after the last one. Returns how
    /// many there were.
    fn items(&mut self, source: &str, end: usize, out: &mut Items) -> Option<usize> {
        let mut count = 0;
        loop {
            let items = Grammar::parse(Rule::campaign_items, &source[self.offset..end]).ok()?;
            let items = items.into_iter().next()?;
            let stop = items.as_span().end();
            let before = count;
            for piece in items.into_inner() {
                count += 1;
                if piece.as_rule() == Rule::trigger {
                    if let Some(t) = self.trigger(piece) {
                        out.triggers.push(t);
                    }
                } else if let Some(step) = self.step(piece) {
                    out.steps.push(step);
                }
            }
            self.offset += stop;
            if count == before {
                return Some(count);
            }
        }
    }

    /// The items between `cuts` (the first is `self.offset`, the last the
    /// end of the source), each stretch on its own thread. `None` when a cut
    /// is not provably a seam; the caller then parses in one pass. Proof:
    /// every inner cut is at a line start (so not inside a string or
    /// comment), the stretch before it ends in whole items and then only
    /// whitespace or comments, and the stretch after it starts with an
    /// item. A step's first word never continues the step before it (only
    /// `else`, `and`, `or`, `is` and comparisons do), so one pass would have
    /// cut the items at the same place.
    fn items_in_parallel(&mut self, source: &str, cuts: &[usize]) -> Option<Items> {
        if cuts.len() < 3 {
            return None;
        }
        let inner = &cuts[1..cuts.len() - 1];
        if !inner
            .iter()
            .all(|&c| source.as_bytes().get(c.wrapping_sub(1)) == Some(&b'\n'))
        {
            return None;
        }
        let stretches: Vec<Option<(Builder, Items)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = cuts
                .windows(2)
                .enumerate()
                .map(|(i, w)| {
                    let (start, end) = (w[0], w[1]);
                    let last = i == cuts.len() - 2;
                    let parse = move || {
                        let mut builder = Builder {
                            errors: Vec::new(),
                            offset: start,
                        };
                        let mut items = Items::default();
                        let count = builder.items(source, end, &mut items)?;
                        // Giving back the spare room here keeps it out of the
                        // peak while the stretches are joined.
                        items.steps.shrink_to_fit();
                        let rest = &source[builder.offset..end];
                        let starts_clean = i == 0 || count > 0;
                        let ends_clean = last || Grammar::parse(Rule::trivia, rest).is_ok();
                        (starts_clean && ends_clean).then_some((builder, items))
                    };
                    // The first stretch is this thread's; `parse` is Copy,
                    // so a thread that does not start is parsed here too.
                    let handle = (i > 0)
                        .then(|| crate::threads::spawn_scoped(scope, parse))
                        .flatten();
                    (handle, parse)
                })
                .collect();
            handles
                .into_iter()
                .map(|(handle, parse)| match handle {
                    Some(handle) => handle.join().ok().flatten(),
                    None => parse(),
                })
                .collect()
        });
        let stretches: Vec<(Builder, Items)> = stretches.into_iter().collect::<Option<_>>()?;
        // The steps are most of the tree: the first stretch's list grows to
        // hold them all at once, and each other stretch's is freed as soon
        // as it is moved in.
        let total = stretches
            .iter()
            .map(|(_, items)| items.steps.len())
            .sum::<usize>();
        let mut all = Items::default();
        for (builder, items) in stretches {
            self.errors.extend(builder.errors);
            self.offset = builder.offset;
            all.triggers.extend(items.triggers);
            if all.steps.is_empty() {
                all.steps = items.steps;
                all.steps.reserve_exact(total - all.steps.len());
            } else {
                all.steps.extend(items.steps);
            }
        }
        Some(all)
    }

    fn trigger(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Trigger>> {
        let span = self.span(&pair);
        let kind = pair.into_inner().nth(1)?;
        let trigger = match kind.as_rule() {
            Rule::contact_added => Trigger::ContactAdded,
            Rule::tag_added => Trigger::TagAdded(self.name(kind.into_inner().next())),
            _ => Trigger::WebhookReceived(self.name(kind.into_inner().next())),
        };
        Some(Spanned::new(trigger, span))
    }

    /// A string that must be literal text (names, header names, pointers).
    fn name(&mut self, pair: Option<Pair<'_, Rule>>) -> Spanned<String> {
        let Some(pair) = pair else {
            return Spanned::new(String::new(), Span::default());
        };
        let template = self.template(pair);
        match template.as_literal() {
            Some(text) => Spanned::new(text, template.span),
            None => {
                let at = template.merges().next().map_or(template.span, |m| m.span);
                self.errors.push(
                    Diagnostic::error(
                        codes::SYNTAX_MERGE_NOT_ALLOWED,
                        at,
                        "this name cannot merge contact fields",
                    )
                    .label("merge field in a name")
                    .help("names, header names and secret names are fixed text; write `\\[` for a literal bracket"),
                );
                Spanned::new(String::new(), template.span)
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
                Template {
                    parts: Vec::new(),
                    span,
                }
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
    fn target_field(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<String>> {
        let merge = self.merge(pair)?;
        if let Some(filter) = merge.filters.first() {
            self.errors.push(
                Diagnostic::error(
                    codes::SYNTAX_FILTER_ON_TARGET,
                    filter.span,
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
        let steps = fitted(pair.into_inner().filter_map(|p| self.step(p)).collect());
        Block { steps, span }
    }

    fn step(&mut self, pair: Pair<'_, Rule>) -> Option<Step> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        let first = inner.next()?;
        let mut keyword = self.span(&first);
        let kind = match rule {
            Rule::webhook => {
                let name = self.name(inner.next());
                let settings = fitted(inner.filter_map(|s| self.setting(s)).collect());
                StepKind::Webhook(Box::new(Webhook { name, settings }))
            }
            Rule::tag_step => {
                let op = inner.next()?;
                keyword = keyword.to(self.span(&op));
                let op = if op.as_rule() == Rule::kw_add {
                    TagOp::Add
                } else {
                    TagOp::Remove
                };
                StepKind::Tag {
                    op,
                    name: self.template(inner.next()?),
                }
            }
            Rule::field_set => {
                keyword = keyword.to(self.span(&inner.next()?));
                let field = self.target_field(inner.next()?)?;
                let value = self.operand(inner.next()?)?;
                StepKind::FieldSet { field, value }
            }
            Rule::note => StepKind::Note(self.template(inner.next()?)),
            Rule::wait => {
                let what = inner.next()?;
                StepKind::Wait(if what.as_rule() == Rule::wait_until {
                    let target = what.into_inner().nth(1)?;
                    Wait::Until(self.operand(target)?)
                } else {
                    Wait::For(self.duration(what)?)
                })
            }
            Rule::if_step => {
                let cond = self.cond(inner.next()?);
                let body = self.block(inner.next()?);
                let mut branches = vec![Branch { cond, body }];
                let mut otherwise = None;
                for arm in inner {
                    if arm.as_rule() == Rule::else_if {
                        let mut parts = arm.into_inner().skip(2);
                        let cond = self.cond(parts.next()?);
                        let body = self.block(parts.next()?);
                        branches.push(Branch { cond, body });
                    } else {
                        otherwise = Some(self.block(arm.into_inner().nth(1)?));
                    }
                }
                StepKind::If(If {
                    branches: fitted(branches),
                    otherwise,
                })
            }
            Rule::split => {
                let percent = self.percent(inner.next()?);
                let first = self.block(inner.next()?);
                let otherwise = self.block(inner.nth(1)?);
                StepKind::Split(Split {
                    percent,
                    first,
                    otherwise,
                })
            }
            Rule::stop => StepKind::Stop,
            Rule::goal => {
                let name = self.name(inner.next());
                let cond = self.cond(inner.nth(1)?);
                StepKind::Goal(Box::new(Goal { name, cond }))
            }
            _ => return None,
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
        let number = inner.next()?;
        let unit = inner.next()?;
        let per_unit = match unit_millis(unit.as_str()) {
            Some(ms) => ms,
            None => {
                self.errors
                    .push(unknown_unit(unit.as_str(), self.span(&unit)));
                return None;
            }
        };
        let value: f64 = number.as_str().parse().ok()?;
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
            Rule::merge => Operand::Merge(self.merge(pair)?),
            Rule::string => Operand::Text(self.template(pair)),
            Rule::number => Operand::Number(Spanned::new(pair.as_str().parse().ok()?, span)),
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
            _ => return None,
        })
    }

    fn cond(&mut self, pair: Pair<'_, Rule>) -> Cond {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::cond | Rule::and_chain => {
                let is_or = pair.as_rule() == Rule::cond;
                let mut items: Vec<Cond> = pair
                    .into_inner()
                    .filter(|p| !matches!(p.as_rule(), Rule::kw_or | Rule::kw_and))
                    .map(|p| self.cond(p))
                    .collect();
                if items.len() == 1 {
                    return items.pop().unwrap_or(Cond {
                        kind: CondKind::Truthy(Operand::Bool(Spanned::new(false, span))),
                        span,
                    });
                }
                let items = fitted(items);
                if is_or {
                    CondKind::Or(items)
                } else {
                    CondKind::And(items)
                }
            }
            Rule::negation => {
                let mut inner = pair.into_inner();
                let mut nots = 0;
                let mut primary = None;
                for p in inner.by_ref() {
                    if p.as_rule() == Rule::kw_not {
                        nots += 1;
                    } else {
                        primary = Some(p);
                    }
                }
                let Some(primary) = primary else {
                    return false_cond(span);
                };
                let cond = self.cond(primary);
                if nots % 2 == 0 {
                    return cond;
                }
                CondKind::Not(Box::new(cond))
            }
            Rule::has_tag => match pair.into_inner().nth(2) {
                Some(tag) => CondKind::HasTag(self.template(tag)),
                None => return false_cond(span),
            },
            Rule::comparison => {
                let mut inner = pair.into_inner();
                let Some(left) = inner.next().and_then(|p| self.operand(p)) else {
                    return false_cond(span);
                };
                match inner.next() {
                    None => CondKind::Truthy(left),
                    Some(p) if p.as_rule() == Rule::is_empty => CondKind::IsEmpty {
                        operand: left,
                        negated: false,
                    },
                    Some(p) if p.as_rule() == Rule::is_not_empty => CondKind::IsEmpty {
                        operand: left,
                        negated: true,
                    },
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
                            _ => CompareOp::EndsWith,
                        };
                        let Some(right) = inner.next().and_then(|p| self.operand(p)) else {
                            return false_cond(span);
                        };
                        CondKind::Compare {
                            left,
                            op: Spanned::new(op, op_span),
                            right,
                        }
                    }
                }
            }
            _ => return false_cond(span),
        };
        Cond { kind, span }
    }

    fn setting(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Setting>> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        inner.next(); // the keyword
        let setting = match rule {
            Rule::method_setting => {
                let word = inner.next()?;
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
            Rule::url_setting => Setting::Url(self.template(inner.next()?)),
            Rule::header_setting => {
                let name = self.name(inner.next());
                let value = inner
                    .next()?
                    .into_inner()
                    .map(|piece| {
                        if piece.as_rule() == Rule::secret {
                            HeaderPiece::Secret(self.secret(piece))
                        } else {
                            HeaderPiece::Text(self.template(piece))
                        }
                    })
                    .collect();
                let value = fitted(value);
                Setting::Header { name, value }
            }
            Rule::post_setting => Setting::Post(self.template(inner.next()?)),
            Rule::json_setting => Setting::Json(self.json(inner.next()?)),
            Rule::timeout_setting => Setting::Timeout(self.duration(inner.next()?)?.node),
            Rule::backoff_setting => Setting::Backoff(self.duration(inner.next()?)?.node),
            Rule::retry_setting => {
                let n = inner.next()?;
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
                let count = inner.next()?;
                let unit = inner.next()?;
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
                let what = inner.nth(1)?;
                Setting::OnFailure(if what.as_rule() == Rule::kw_continue {
                    OnFailure::Continue
                } else {
                    OnFailure::Stop
                })
            }
            Rule::sign_setting => Setting::Sign(self.secret(inner.next()?)),
            Rule::capture_setting => {
                let field = self.target_field(inner.next()?)?;
                let source = inner.next()?;
                let is_json = source.as_rule() == Rule::capture_json;
                let arg = self.name(source.into_inner().nth(1));
                Setting::Capture {
                    field,
                    source: if is_json {
                        CaptureSource::JsonPointer(arg)
                    } else {
                        CaptureSource::Header(arg)
                    },
                }
            }
            Rule::dynamic_host_setting => Setting::DynamicHost,
            _ => return None,
        };
        Some(Spanned::new(setting, span))
    }

    fn secret(&mut self, pair: Pair<'_, Rule>) -> Spanned<String> {
        let span = self.span(&pair);
        let name = self.name(pair.into_inner().nth(1));
        Spanned::new(name.node, span)
    }

    fn json(&mut self, pair: Pair<'_, Rule>) -> Json {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::json_object => JsonKind::Object(fitted(
                pair.into_inner()
                    .filter_map(|member| {
                        let mut kv = member.into_inner();
                        let key = self.name(kv.next());
                        let value = self.json(kv.next()?);
                        Some((key, value))
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
                            m.span,
                            format!("`{}` is neither a JSON array nor a field name", &*m.field),
                        )
                        .label("read as a merge field")
                        .help("a JSON array holds JSON values: numbers, \"strings\", true/false/null, objects, arrays or merges like `[Email]`"),
                    );
                    JsonKind::Null
                }
                Some(m) => JsonKind::Merge(m),
                None => JsonKind::Null,
            },
            Rule::number => JsonKind::Number(pair.as_str().to_string()),
            Rule::kw_true => JsonKind::Bool(true),
            Rule::kw_false => JsonKind::Bool(false),
            _ => JsonKind::Null,
        };
        Json { kind, span }
    }
}

fn false_cond(span: Span) -> Cond {
    Cond {
        kind: CondKind::Truthy(Operand::Bool(Spanned::new(false, span))),
        span,
    }
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

/// Turns a pest error into a diagnostic that names what was expected in the
/// language's words and points at what was found instead.
fn syntax_error(source: &str, err: pest::error::Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let positives = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { message } => {
            return Diagnostic::error(
                codes::SYNTAX_TOO_COMPLEX,
                Span::new(pos, pos),
                format!("this file is too complex to parse ({message})"),
            )
            .help("simplify the deepest or longest construct near here");
        }
    };
    let found = found_at(source, pos);
    let word = source[pos..]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .filter(|w| !w.is_empty() && w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'));

    let wants_step = positives.contains(&Rule::kw_webhook);
    let wants_setting = positives.contains(&Rule::kw_url);
    if let (Some(word), true) = (word, wants_step || wants_setting) {
        let span = Span::new(pos, pos + word.len());
        let (what, known, code) = if wants_step {
            ("step", STEP_KEYWORDS, codes::SYNTAX_UNKNOWN_STEP)
        } else {
            (
                "webhook setting",
                SETTING_KEYWORDS,
                codes::SYNTAX_UNKNOWN_SETTING,
            )
        };
        let help = match did_you_mean(word, known.iter().copied()) {
            Some(k) => format!("did you mean `{k}`?"),
            None => format!("{what}s are: {}", known.join(", ")),
        };
        return Diagnostic::error(code, span, format!("unknown {what} `{word}`"))
            .label(format!("not a {what}"))
            .help(help);
    }

    if source[pos..].starts_with('=')
        && !source[pos..].starts_with("==")
        && positives.contains(&Rule::compare_op)
    {
        return Diagnostic::error(
            codes::SYNTAX_UNEXPECTED,
            Span::new(pos, pos + 1),
            "`=` does not compare values; write `==`",
        )
        .label("assignment, not comparison")
        .help(syntax_help(&positives));
    }

    let mut expected: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if !expected.contains(&s) {
            expected.push(s);
        }
    };
    if wants_step {
        add("a step".into());
    }
    if wants_setting {
        add("a webhook setting".into());
    }
    for rule in &positives {
        if let Some(name) = describe(*rule, wants_step, wants_setting) {
            add(name.to_string());
        }
    }
    if let Some(attempts) = err.parse_attempts() {
        for token in attempts.expected_tokens() {
            let token = token.to_string();
            // `//` and `"` are how comments and strings start; they add noise.
            let noise = token == "//" || (token == "\"" && positives.contains(&Rule::string));
            if !noise && !token.is_empty() && token.chars().all(|c| c.is_ascii_punctuation()) {
                add(format!("`{token}`"));
            }
        }
    }
    let expected = match expected.len() {
        0 => "something else".to_string(),
        1 => expected.remove(0),
        _ => {
            let last = expected.pop().unwrap_or_default();
            format!("{} or {last}", expected.join(", "))
        }
    };
    let (found_text, len) = found;
    Diagnostic::error(
        codes::SYNTAX_UNEXPECTED,
        Span::new(pos, pos + len),
        format!("expected {expected}, found {found_text}"),
    )
    .label(format!("expected {expected}"))
    .help(syntax_help(&positives))
}

/// What stands at `pos`, for "found ...", and its length in bytes.
fn found_at(source: &str, pos: usize) -> (String, usize) {
    let rest = &source[pos.min(source.len())..];
    let Some(c) = rest.chars().next() else {
        return ("the end of the file".into(), 0);
    };
    if c.is_ascii_alphanumeric() || c == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let len = word.len();
        return (format!("`{word}`"), len);
    }
    let shown = match c {
        '\n' => "the end of the line".to_string(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    };
    (shown, if c == '\n' { 0 } else { c.len_utf8() })
}

fn syntax_help(positives: &[Rule]) -> String {
    if positives.contains(&Rule::kw_campaign) {
        "a file holds one block: `campaign \"Name\" { ... }`".into()
    } else if positives.contains(&Rule::duration) || positives.contains(&Rule::duration_num) {
        "durations are a number and a unit: `30s`, `5 minutes`, `2 days`".into()
    } else if positives.contains(&Rule::compare_op) {
        "conditions compare values: `[Country] == \"US\"`, `[Email] ends_with \"@x.com\"`, `[Phone] is empty`, `has tag \"VIP\"`".into()
    } else {
        "see docs/language.md for the syntax of each step".into()
    }
}

/// Human names for the rules that can appear in "expected ..." messages.
fn describe(rule: Rule, wants_step: bool, wants_setting: bool) -> Option<&'static str> {
    let is_step_kw = matches!(
        rule,
        Rule::kw_webhook
            | Rule::kw_tag
            | Rule::kw_field
            | Rule::kw_note
            | Rule::kw_wait
            | Rule::kw_if
            | Rule::kw_split
            | Rule::kw_stop
            | Rule::kw_goal
            | Rule::kw_trigger
    );
    let is_setting_kw = matches!(
        rule,
        Rule::kw_method
            | Rule::kw_url
            | Rule::kw_header
            | Rule::kw_post
            | Rule::kw_json
            | Rule::kw_timeout
            | Rule::kw_retry
            | Rule::kw_backoff
            | Rule::kw_rate
            | Rule::kw_on
            | Rule::kw_sign
            | Rule::kw_capture
            | Rule::kw_dynamic
    );
    if (wants_step && is_step_kw) || (wants_setting && is_setting_kw) {
        return None;
    }
    Some(match rule {
        Rule::EOI => "the end of the file",
        Rule::string => "a \"string\"",
        Rule::merge => "a merge field such as `[Email]`",
        Rule::number | Rule::integer | Rule::duration_num => "a number",
        Rule::boolean | Rule::kw_true | Rule::kw_false => "`true` or `false`",
        Rule::kw_null => "`null`",
        Rule::duration => "a duration such as `2 days`",
        Rule::unit => "a time unit such as `days`",
        Rule::timestamp => "a date such as `2026-12-01T09:00:00Z`",
        Rule::word => "an HTTP method (GET, POST, PUT, PATCH, DELETE)",
        Rule::compare_op => "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`, `contains`, `starts_with`, `ends_with`)",
        Rule::is_empty | Rule::is_not_empty | Rule::kw_is => "`is empty`",
        Rule::cond | Rule::and_chain | Rule::negation | Rule::comparison | Rule::has_tag => "a condition",
        Rule::kw_and | Rule::kw_or => "`and` or `or`",
        Rule::kw_not => "`not`",
        Rule::percent => "a percentage such as `30%`",
        Rule::block => "a `{` block",
        Rule::secret => "`secret(\"NAME\")`",
        Rule::json_object | Rule::json_array => "a JSON object or array",
        Rule::json_member => "a JSON member `\"key\": value`",
        Rule::contact_added | Rule::tag_added | Rule::webhook_received => {
            "a trigger (`contact_added`, `tag_added \"Tag\"`, `webhook_received \"/path\"`)"
        }
        Rule::else_if | Rule::else_block | Rule::kw_else => "`else`",
        Rule::capture_json | Rule::capture_header => "`json \"/pointer\"` or `header \"Name\"`",
        Rule::kw_campaign => "`campaign \"Name\" {`",
        Rule::kw_trigger => "`trigger`",
        Rule::kw_webhook => "`webhook`",
        Rule::kw_tag => "`tag`",
        Rule::kw_add | Rule::kw_remove => "`add` or `remove`",
        Rule::kw_field => "`field`",
        Rule::kw_set => "`set`",
        Rule::kw_note => "`note`",
        Rule::kw_wait => "`wait`",
        Rule::kw_until => "`until`",
        Rule::kw_if => "`if`",
        Rule::kw_split => "`split`",
        Rule::kw_stop | Rule::kw_continue => "`continue` or `stop`",
        Rule::kw_goal => "`goal`",
        Rule::kw_when => "`when`",
        Rule::kw_has => "`has`",
        Rule::kw_empty => "`empty`",
        Rule::kw_method => "`method`",
        Rule::kw_url => "`url`",
        Rule::kw_header => "`header`",
        Rule::kw_post => "`post`",
        Rule::kw_json => "`json`",
        Rule::kw_timeout => "`timeout`",
        Rule::kw_retry => "`retry`",
        Rule::kw_backoff => "`backoff`",
        Rule::kw_rate => "`rate`",
        Rule::kw_on => "`on`",
        Rule::kw_failure => "`failure`",
        Rule::kw_sign => "`sign`",
        Rule::kw_secret => "`secret`",
        Rule::kw_capture => "`capture`",
        Rule::kw_dynamic => "`dynamic`",
        Rule::kw_host => "`host`",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The campaign's span as the whole-file rule parses it, if it does.
    fn whole(text: &str) -> Option<Span> {
        let file = Grammar::parse(Rule::file, text).ok()?.next()?;
        let campaign = file.into_inner().find(|p| p.as_rule() == Rule::campaign)?;
        Some(Builder::default().span(&campaign))
    }

    fn pieces(text: &str) -> Option<Span> {
        Builder::default().campaign(text, &[]).map(|c| c.span)
    }

    /// Shipped campaigns, fixtures, and the seams between pieces.
    fn sources() -> Vec<String> {
        let mut sources: Vec<String> = vec![
            "campaign \"a\" {}".into(),
            "\u{FEFF}// c\ncampaign \"a\" { // }\n stop // }\n}\n// end".into(),
            "campaign \"a\" {\n trigger contact_added\n stop }  \n".into(),
            "campaign \"a\" { stop } }".into(),
            "campaign \"a\" { stop".into(),
            format!("campaign \"a\" {{\n{}}}", "tag add \"x\"\n".repeat(200)),
            format!("campaign \"a\" {{\n{}oops\n}}", "note \"n\"\n".repeat(70)),
            // Lines that start with a step's word in the middle of a step.
            "campaign \"a\" {\n if has\ntag \"x\" { stop }\n goal \"g\" when has\ntag \"y\"\n}"
                .into(),
            "campaign \"a\" {\n if [A] == \"1\" { stop } else\nif [B] { note \"n\" }\n}".into(),
            "campaign \"a\" {\n field set [A] = [B | replace: ']', '['] // ]\n wait 1 day\n}"
                .into(),
        ];
        for dir in ["examples", "tests/diagnostics"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "campaign") {
                    if let Ok(text) = std::fs::read_to_string(&path) {
                        if depth::prescan(&text).is_ok() {
                            sources.push(text);
                        }
                    }
                }
            }
        }
        sources
    }

    /// Everything a build produces, to compare two of them.
    fn built(text: &str, cut: impl FnOnce(usize) -> Vec<usize>) -> String {
        let mut builder = Builder::default();
        let campaign = builder.campaign_cut(text, cut);
        format!("{campaign:?}\n{:?}", builder.errors)
    }

    /// The pieces must accept exactly what `file` accepts: every shipped
    /// campaign and fixture, prefixes of each, and each with one character
    /// removed at many places, plus the seams between pieces (comments, braces in
    /// comments, more items than one piece holds).
    #[test]
    fn pieces_accept_exactly_what_the_file_rule_accepts() {
        let sources = sources();
        let mut accepted = 0;
        for source in &sources {
            // About 60 cuts per source keeps this quick in debug builds.
            let stride = source.len() / 60 + 1;
            let cuts = (0..=source.len()).filter(|&i| source.is_char_boundary(i));
            for cut in cuts.filter(|i| i % stride == 0) {
                let prefix = &source[..cut];
                assert_eq!(whole(prefix), pieces(prefix), "prefix:\n{prefix}");
                if let Some(c) = source[cut..].chars().next() {
                    let removed = format!("{prefix}{}", &source[cut + c.len_utf8()..]);
                    let expected = whole(&removed);
                    accepted += usize::from(expected.is_some());
                    assert_eq!(
                        expected,
                        pieces(&removed),
                        "with one byte removed:\n{removed}"
                    );
                }
            }
        }
        // The mutations must exercise the success path too, or the test
        // would pass on a parser that rejects everything.
        assert!(accepted > 50, "only {accepted} mutated sources parsed");
    }

    /// Cutting the body anywhere (a line start, mid-line, inside a string
    /// or a step) must give exactly the one-pass result: either the cut lay
    /// between items, or the check refuses it and one pass runs instead.
    #[test]
    fn a_cut_anywhere_gives_the_one_pass_result() {
        let mut parallel = 0;
        for source in sources() {
            let one_pass = built(&source, |start| vec![start, source.len()]);
            let stride = source.len() / 80 + 1;
            let cuts = (0..source.len()).filter(|&i| source.is_char_boundary(i));
            for cut in cuts.filter(|i| i % stride == 0 || source[..*i].ends_with('\n')) {
                let plan = |start: usize| {
                    if cut > start {
                        vec![start, cut, source.len()]
                    } else {
                        vec![start, source.len()]
                    }
                };
                assert_eq!(built(&source, plan), one_pass, "cut at {cut} of:\n{source}");
                let mut builder = Builder::default();
                if let Some(start) = Grammar::parse(Rule::campaign_head, &source)
                    .ok()
                    .and_then(|mut p| p.next())
                    .map(|head| head.as_span().end())
                    .filter(|&start| cut > start)
                {
                    builder.offset = start;
                    let cuts = [start, cut, source.len()];
                    parallel += usize::from(builder.items_in_parallel(&source, &cuts).is_some());
                }
            }
        }
        // Some cuts must have been taken, or only the fallback was tested.
        assert!(parallel > 50, "only {parallel} cuts parsed in parallel");
    }

    #[test]
    fn spans_end_at_the_last_token_not_at_the_comments_after_it() {
        let src = "campaign \"a\" {\n if [A] // c\n { stop } // x\n goal \"g\" when not [B] == \"x\" // c\n}";
        let campaign = Builder::default().campaign(src, &[]).unwrap();
        let text = |span: Span| &src[span.start as usize..span.end as usize];
        let StepKind::If(chain) = &campaign.steps[0].kind else {
            panic!("not an if: {:?}", campaign.steps[0]);
        };
        assert_eq!(text(campaign.steps[0].span), "if [A] // c\n { stop }");
        assert_eq!(text(chain.branches[0].cond.span), "[A]");
        let StepKind::Goal(goal) = &campaign.steps[1].kind else {
            panic!("not a goal: {:?}", campaign.steps[1]);
        };
        assert_eq!(text(goal.cond.span), "not [B] == \"x\"");
    }

    #[test]
    fn seams_fall_between_top_level_steps() {
        let step = "    webhook \"w\" {\n        url \"https://a.example/[Id]\"\n    }\n";
        let source = format!("campaign \"a\" {{\n{}}}\n", step.repeat(5000));
        let seams = depth::prescan(&source).unwrap().seams;
        assert!(seams.len() > 5, "{} seams", seams.len());
        for pair in seams.windows(2) {
            assert!(pair[1] - pair[0] >= depth::SEAM_SPACING);
        }
        for &seam in &seams {
            assert!(source[seam..].starts_with("    webhook"), "{seam}");
        }
        let cuts = cuts(&seams, 15, source.len(), 2);
        assert_eq!(cuts.len(), 3);
        let mut builder = Builder {
            errors: Vec::new(),
            offset: 15,
        };
        let items = builder.items_in_parallel(&source, &cuts).unwrap();
        assert_eq!(items.steps.len(), 5000);
    }
}
