//! pest's errors in the language's words: what the grammar expected, named
//! as the docs name it, and what stands there instead.

use pest::error::{ErrorVariant, InputLocation};

use super::depth::{unclosed, Unclosed};
use super::parser::strict::Rule;
use super::parser::{SETTING_KEYWORDS, STEP_KEYWORDS};
use crate::diagnostics::{codes, did_you_mean, Diagnostic};
use crate::span::Span;

/// Turns a pest error into a diagnostic that names what was expected in the
/// language's words and points at what was found instead.
pub(super) fn syntax_error(source: &str, err: pest::error::Error<Rule>) -> Diagnostic {
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

    if let Some(hint) = mistake_hint(source, &err, pos, &positives) {
        return hint;
    }
    let wants_step = positives.contains(&Rule::kw_webhook);
    let wants_setting = positives.contains(&Rule::kw_url);
    let known_word = word.is_some_and(|w| {
        (wants_step && STEP_KEYWORDS.contains(&w))
            || (wants_setting && SETTING_KEYWORDS.contains(&w))
    });
    if known_word {
        // A step or setting whose keyword is right but whose rest is not:
        // pest puts the error at the keyword, its detail knows where the
        // step went wrong and what it expected there.
        if let Some(wrong) = inside_known_item(source, &err, pos) {
            return wrong;
        }
    }
    if let (Some(word), true, false) = (word, wants_step || wants_setting, known_word) {
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
            // `_` is how a bare word may start (grammar internals), and `{`
            // is already named as "a `{` block".
            let noise = token == "//"
                || token == "_"
                || (token == "{" && positives.contains(&Rule::block))
                || (token == "\"" && positives.contains(&Rule::string));
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

/// The error inside a step or setting that begins with a right keyword,
/// at the furthest place pest's detail reached, naming the tokens it
/// expected there.
fn inside_known_item(
    source: &str,
    err: &pest::error::Error<Rule>,
    pos: usize,
) -> Option<Diagnostic> {
    let attempts = err.parse_attempts()?;
    let at = attempts.max_position;
    if at <= pos || at > source.len() {
        return None;
    }
    let mut expected: Vec<String> = Vec::new();
    for token in attempts.expected_tokens() {
        let token = token.to_string();
        // Whitespace and comments may stand anywhere; naming them is noise.
        if token == "//" || token.chars().all(|c| c.is_whitespace() || c == '\u{FEFF}') {
            continue;
        }
        if token == "_" {
            continue;
        }
        let token = format!("`{token}`");
        if !expected.contains(&token) {
            expected.push(token);
        }
    }
    let last = expected.pop()?;
    let expected = if expected.is_empty() {
        last
    } else {
        format!("{} or {last}", expected.join(", "))
    };
    let (found_text, len) = found_at(source, at);
    Some(
        Diagnostic::error(
            codes::SYNTAX_UNEXPECTED,
            Span::new(at, at + len),
            format!("expected {expected}, found {found_text}"),
        )
        .label(format!("expected {expected}"))
        .help(syntax_help(&[])),
    )
}

/// Mistakes people make often enough to be named: what they wrote, and
/// the right form, instead of the grammar's list of what it expected.
fn mistake_hint(
    source: &str,
    err: &pest::error::Error<Rule>,
    pos: usize,
    positives: &[Rule],
) -> Option<Diagnostic> {
    let rest = &source[pos..];
    let furthest = err
        .parse_attempts()
        .map(|a| a.max_position)
        .filter(|&at| at >= pos && at <= source.len())
        .unwrap_or(pos);
    if rest.trim().is_empty() && furthest == source.len() {
        if let Some(unclosed) = unclosed(source) {
            return Some(unclosed_brace(source, unclosed));
        }
    }
    if let Some(d) = quoted_filter_argument(source, pos) {
        return Some(d);
    }
    if let Some(d) = verify_clause(source, pos) {
        return Some(d);
    }
    if rest.starts_with("header")
        && !rest[6..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    {
        if let Some(d) = header_without_equals(source, pos, furthest) {
            return Some(d);
        }
    }
    let line_start = source[..pos].rfind('\n').map_or(0, |i| i + 1);
    let after_method = source[line_start..pos].trim() == "method" && rest.starts_with('"');
    if rest.starts_with("method") || after_method {
        let at = if after_method { pos } else { furthest };
        if source[at..].starts_with('"') {
            let end = source[at + 1..].find('"').map_or(at + 1, |e| at + e + 2);
            let word = source[at + 1..end.saturating_sub(1).max(at + 1)].trim();
            return Some(
                Diagnostic::error(
                    codes::SYNTAX_UNEXPECTED,
                    Span::new(at, end),
                    "the method is a bare word, not a string",
                )
                .label("quoted method")
                .help(format!("write `method {}`", word.to_ascii_uppercase())),
            );
        }
    }
    let at_furthest = &source[furthest..];
    let wants_logic =
        positives.contains(&Rule::kw_and) || positives.contains(&Rule::kw_or) || furthest > pos;
    for (symbol, word) in [("||", "or"), ("&&", "and")] {
        if wants_logic && (rest.starts_with(symbol) || at_furthest.starts_with(symbol)) {
            let at = if rest.starts_with(symbol) {
                pos
            } else {
                furthest
            };
            return Some(
                Diagnostic::error(
                    codes::SYNTAX_UNEXPECTED,
                    Span::new(at, at + 2),
                    format!("conditions are joined with `{word}`, not `{symbol}`"),
                )
                .label(format!("write `{word}`"))
                .help(format!(
                    "`[A] == \"1\" {word} [B] == \"2\"`: conditions use the words `and`, `or` and `not`"
                )),
            );
        }
    }
    for at in [pos, furthest] {
        if let Some(d) = wrong_quotes(source, at, positives) {
            return Some(d);
        }
    }
    let after_condition = positives.contains(&Rule::block)
        && (positives.contains(&Rule::kw_and) || positives.contains(&Rule::kw_or));
    let assignment = rest.starts_with('=') && !rest.starts_with("==");
    if after_condition && !rest.starts_with('{') && !assignment {
        let (found, len) = found_at(source, pos);
        return Some(
            Diagnostic::error(
                codes::SYNTAX_UNEXPECTED,
                Span::new(pos, pos + len),
                format!("expected `and`, `or` or the `{{` that opens the block, found {found}"),
            )
            .label("expected `{` before this")
            .help(
                "the steps of an `if` go in a block: `if [Country] == \"US\" { tag add \"US\" }`",
            ),
        );
    }
    None
}

/// How a `verify` clause is written, for every error inside one.
const VERIFY_FORMS: &str = "a webhook trigger is verified with `verify standard secret(\"NAME\")` (Standard Webhooks), `verify github secret(\"NAME\")` (GitHub's X-Hub-Signature-256) or `verify none`";

/// Mistakes in or around a `verify` clause: `verify` where no webhook
/// trigger precedes it, an unknown way of verifying, and a secret's name
/// written without `secret(...)`.
fn verify_clause(source: &str, pos: usize) -> Option<Diagnostic> {
    let is_word = |text: &str, word: &str| {
        text.strip_prefix(word)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
    };
    let (found, len) = found_at(source, pos);
    let error = |message: String, label: &str| {
        Diagnostic::error(codes::SYNTAX_UNEXPECTED, Span::new(pos, pos + len), message).label(label)
    };
    if is_word(&source[pos..], "verify") {
        return Some(
            error(
                "`verify` belongs to a `trigger webhook_received \"/path\"` line".into(),
                "no webhook trigger before it",
            )
            .help(format!(
                "write it after the path: `trigger webhook_received \"/hooks/signup\" verify standard secret(\"SIGNUP_SECRET\")`; {VERIFY_FORMS}"
            )),
        );
    }
    // The words before `pos`, comments left out (naively: a `//` in a
    // string cuts its line short, which only costs the hint).
    let mut before = source[..pos].lines().rev().flat_map(|line| {
        line.split("//")
            .next()
            .unwrap_or("")
            .split_whitespace()
            .rev()
    });
    let last = before.next()?;
    if last == "verify" {
        let expected = "`standard`, `github` or `none`";
        return Some(
            error(
                format!("expected {expected} after `verify`, found {found}"),
                "expected `standard`, `github` or `none`",
            )
            .help(VERIFY_FORMS),
        );
    }
    if (last == "standard" || last == "github") && before.next() == Some("verify") {
        let help = match source[pos..]
            .strip_prefix('"')
            .and_then(|r| r.split(['"', '\n']).next())
        {
            Some(name) => format!(
                "the secret is named with `secret(...)`: write `verify {last} secret(\"{name}\")`"
            ),
            None => VERIFY_FORMS.to_string(),
        };
        return Some(
            error(
                format!("expected `secret(\"NAME\")` after `verify {last}`, found {found}"),
                "expected `secret(\"NAME\")`",
            )
            .help(help),
        );
    }
    None
}

/// A string in curly or single quotes where a string is expected.
fn wrong_quotes(source: &str, at: usize, positives: &[Rule]) -> Option<Diagnostic> {
    let rest = &source[at..];
    let open = rest.chars().next()?;
    let close = match open {
        '\u{201C}' | '\u{201D}' | '\u{201E}' => ['\u{201D}', '\u{201C}'],
        '\u{2018}' | '\u{2019}' => ['\u{2019}', '\u{2018}'],
        '\'' if positives.contains(&Rule::string) || positives.is_empty() => ['\'', '\''],
        _ => return None,
    };
    let line = rest.split('\n').next().unwrap_or(rest);
    let body_start = open.len_utf8();
    let end = line[body_start..]
        .find(|c: char| close.contains(&c))
        .map(|e| {
            body_start
                + e
                + line[body_start + e..]
                    .chars()
                    .next()
                    .map_or(0, char::len_utf8)
        })
        .unwrap_or(line.len());
    let inner = line[body_start..end].trim_end_matches(|c: char| close.contains(&c));
    let kind = if open == '\'' { "single" } else { "curly" };
    Some(
        Diagnostic::error(
            codes::SYNTAX_UNEXPECTED,
            Span::new(at, at + end),
            format!("strings are written in straight double quotes, not {kind} quotes"),
        )
        .label(format!("{kind} quotes"))
        .help(format!(
            "write \"{}\" (single quotes are only for filter arguments inside a merge; an editor or word processor may have curled the quotes)",
            inner.replace('"', "\\\"")
        )),
    )
}

/// `note "Hi [First Name | default: "friend"]"`: the argument's first `"`
/// ended the string, and what followed reads as a step. Recognised when
/// the string that just closed has a `[` left open.
fn quoted_filter_argument(source: &str, pos: usize) -> Option<Diagnostic> {
    let line_start = source[..pos].rfind('\n').map_or(0, |i| i + 1);
    let before = &source[line_start..pos];
    if !before.ends_with('"') {
        return None;
    }
    let quote = line_start + before.len() - 1;
    let opening = source[line_start..quote].rfind('"')? + line_start;
    let inside = &source[opening + 1..quote];
    let open_bracket = inside.rfind('[')?;
    if inside[open_bracket..].contains(']') || !inside[open_bracket..].contains('|') {
        return None;
    }
    let line_end = source[pos..].find('\n').map_or(source.len(), |i| pos + i);
    let arg_end = source[pos..line_end]
        .find('"')
        .map_or(line_end, |i| pos + i + 1);
    let argument = &source[pos..arg_end.saturating_sub(1).max(pos)];
    Some(
        Diagnostic::error(
            codes::MERGE_SYNTAX,
            Span::new(quote, arg_end),
            "a filter argument inside a merge is written in single quotes",
        )
        .label("this `\"` ends the string")
        .help(format!(
            "write '{argument}': inside a string, a double quote ends the string"
        )),
    )
}

/// `header "X-Source" "campaign"` and `header "X-Source: campaign"`.
fn header_without_equals(source: &str, pos: usize, furthest: usize) -> Option<Diagnostic> {
    let after = &source[pos + "header".len()..];
    let name_open = pos + "header".len() + after.find('"')?;
    let name_close = name_open + 1 + source[name_open + 1..].find('"')?;
    let name = &source[name_open + 1..name_close];
    if let Some((n, v)) = name.split_once(':') {
        return Some(
            Diagnostic::error(
                codes::SYNTAX_UNEXPECTED,
                Span::new(name_open, name_close + 1),
                "the header's name and value are written apart, with `=`",
            )
            .label("name and value in one string")
            .help(format!(
                "write `header \"{}\" = \"{}\"`",
                n.trim(),
                v.trim()
            )),
        );
    }
    if furthest <= name_close {
        return None;
    }
    let value = source[furthest..]
        .strip_prefix('"')
        .and_then(|v| v.split('"').next())
        .map_or_else(|| "value".to_string(), str::to_string);
    Some(
        Diagnostic::error(
            codes::SYNTAX_UNEXPECTED,
            Span::new(
                furthest,
                furthest + source[furthest..].chars().next().map_or(0, char::len_utf8),
            ),
            "expected `=` between the header's name and its value",
        )
        .label("expected `=` here")
        .help(format!("write `header \"{name}\" = \"{value}\"`")),
    )
}

/// At the end of the file with a block still open: the `{` that was never
/// closed, as the pre-scan found it.
fn unclosed_brace(source: &str, unclosed: Unclosed) -> Diagnostic {
    let line_of = |at: usize| source[..at].matches('\n').count() + 1;
    let (open, help) = match unclosed.mismatched {
        Some((open, close)) => (
            open,
            format!(
                "add the `}}` that closes this block: the `}}` on line {} is indented differently, so it closes this block instead of the one opened on line {}",
                line_of(close),
                line_of(unclosed.innermost)
            ),
        ),
        None => (
            unclosed.innermost,
            "add the `}` that closes this block".to_string(),
        ),
    };
    Diagnostic::error(
        codes::SYNTAX_UNEXPECTED,
        Span::new(open, open + 1),
        "this `{` is never closed",
    )
    .label("block opened here")
    .help(help)
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

/// Human names for the rules in "expected ..." messages. A step or
/// setting keyword is left out where the message already says "a step" or
/// "a webhook setting".
fn describe(rule: Rule, wants_step: bool, wants_setting: bool) -> Option<&'static str> {
    let debug = format!("{rule:?}");
    let keyword = debug.strip_prefix("kw_");
    let is_step_kw = keyword.is_some_and(|k| STEP_KEYWORDS.contains(&k));
    let is_setting_kw = keyword.is_some_and(|k| SETTING_KEYWORDS.contains(&k));
    if (wants_step && is_step_kw) || (wants_setting && is_setting_kw) {
        return None;
    }
    name(rule)
}

/// The name of every rule in the language's words, or `None` for a rule
/// pest never names in an error: silent rules, and rules that begin with a
/// keyword or another rule, which pest names instead. Exhaustive on
/// purpose, as Tera's `renamed_rules` is: a rule cannot be added to the
/// grammar without deciding how errors name it.
fn name(rule: Rule) -> Option<&'static str> {
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
        Rule::word => "an HTTP method as a bare word (GET, POST, PUT, PATCH, DELETE)",
        Rule::compare_op => "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`, `contains`, `starts_with`, `ends_with`)",
        Rule::is_empty | Rule::is_not_empty | Rule::kw_is => "`is empty`",
        Rule::cond | Rule::and_chain | Rule::negation | Rule::comparison | Rule::has_tag => "a condition",
        Rule::kw_and | Rule::kw_or => "`and` or `or`",
        Rule::kw_not => "`not`",
        Rule::percent => "a percentage such as `30%`",
        Rule::block => "the `{` that opens a block",
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
        Rule::kw_verify => "`verify`",
        Rule::kw_standard | Rule::kw_github | Rule::kw_none => {
            "`standard secret(\"NAME\")`, `github secret(\"NAME\")` or `none`"
        }
        // Silent: pest never reports them.
        Rule::WHITESPACE
        | Rule::not_newline
        | Rule::ident_char
        | Rule::merge_quote
        | Rule::step
        | Rule::setting
        | Rule::json_value
        | Rule::json_body
        | Rule::member_item
        | Rule::member_value
        | Rule::json_item
        | Rule::primary
        | Rule::operand => return None,
        // Whitespace, and the file's structure: an error inside names what
        // the structure expected next.
        Rule::comment
        | Rule::file
        | Rule::campaign
        | Rule::campaign_head
        | Rule::campaign_items
        | Rule::campaign_close
        | Rule::close_brace
        | Rule::trivia => return None,
        // Each begins with its keyword, which pest names.
        Rule::trigger
        | Rule::tag_step
        | Rule::field_set
        | Rule::note
        | Rule::wait
        | Rule::wait_until
        | Rule::stop
        | Rule::goal
        | Rule::if_step
        | Rule::split
        | Rule::webhook
        | Rule::method_setting
        | Rule::url_setting
        | Rule::header_setting
        | Rule::post_setting
        | Rule::json_setting
        | Rule::timeout_setting
        | Rule::retry_setting
        | Rule::backoff_setting
        | Rule::rate_setting
        | Rule::on_failure_setting
        | Rule::sign_setting
        | Rule::capture_setting
        | Rule::dynamic_host_setting
        | Rule::verify
        | Rule::verify_standard
        | Rule::verify_github => return None,
        // Begins with a string or a secret, which pest names.
        Rule::header_value => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parser::parse;

    /// Every way of getting a `verify` clause wrong is one
    /// `campaign::syntax::unexpected` error at the token that is wrong,
    /// saying in the language's words what goes there (never a pest rule
    /// name), with a help that shows the right forms.
    #[test]
    fn verify_clause_mistakes_are_named_where_they_stand() {
        let cases = [
            // (what follows the trigger's path, the text the error points at)
            ("verify", "stop"),
            ("verify hmac secret(\"S\")", "hmac"),
            ("verify None", "None"),
            ("verify \"S\"", "\""),
            ("verify standard", "stop"),
            ("verify standard \"S\"", "\""),
            ("verify github S", "S"),
            ("verify github secret(S)", "S"),
            ("// c\n verify // c\n hmac", "hmac"),
        ];
        for (clause, at) in cases {
            let source = format!(
                "campaign \"a\" {{\n trigger webhook_received \"/x\" {clause}\n stop\n}}\n"
            );
            let errors = parse(&source).expect_err(&source);
            assert_eq!(errors.len(), 1, "{source}: {errors:?}");
            let error = &errors[0];
            assert_eq!(error.code, codes::SYNTAX_UNEXPECTED, "{source}: {error:?}");
            assert!(
                source[error.span.start as usize..].starts_with(at),
                "{source}: {error:?}"
            );
            let words = format!("{} {} {:?}", error.message, error.label, error.help);
            assert!(
                !words.contains("kw_") && !words.contains("verify_"),
                "{source}: {words}"
            );
        }
        for misplaced in [
            " trigger tag_added \"L\" verify none",
            " verify none",
            " stop verify none",
        ] {
            let source = format!("campaign \"a\" {{\n{misplaced}\n}}\n");
            let errors = parse(&source).expect_err(&source);
            assert_eq!(errors.len(), 1, "{source}: {errors:?}");
            let error = &errors[0];
            assert!(
                source[error.span.start as usize..].starts_with("verify"),
                "{source}: {error:?}"
            );
            assert!(
                error.message.contains("trigger webhook_received"),
                "{source}: {error:?}"
            );
        }
    }

    /// A right keyword with a wrong rest is never an "unknown step" or
    /// "unknown setting" that suggests itself: the error points past the
    /// keyword, at what the step or setting expected.
    #[test]
    fn a_known_keyword_with_a_wrong_rest_is_not_unknown() {
        let steps = STEP_KEYWORDS
            .iter()
            .map(|k| format!("campaign \"a\" {{\n {k} @\n}}\n"));
        let settings = SETTING_KEYWORDS.iter().map(|k| {
            format!("campaign \"a\" {{\n webhook \"W\" {{\n  url \"https://a.example\"\n  {k} @\n }}\n}}\n")
        });
        for source in steps.chain(settings) {
            let errors = parse(&source).expect_err(&source);
            assert_eq!(errors.len(), 1, "{source}: {errors:?}");
            let error = &errors[0];
            assert!(!error.message.contains("unknown"), "{source}: {error:?}");
            assert_eq!(error.code, codes::SYNTAX_UNEXPECTED, "{source}: {error:?}");
            let found = &source[error.span.start as usize..];
            assert!(found.starts_with('@'), "{source}: {error:?}");
        }
    }
}
