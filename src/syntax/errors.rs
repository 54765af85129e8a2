//! pest's errors in the language's words: what the grammar expected, named
//! as the docs name it, and what stands there instead.

use pest::error::{ErrorVariant, InputLocation};

use super::parser::{Rule, SETTING_KEYWORDS, STEP_KEYWORDS};
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
        // Silent: pest never reports them.
        Rule::WHITESPACE
        | Rule::not_newline
        | Rule::ident_char
        | Rule::merge_quote
        | Rule::step
        | Rule::setting
        | Rule::json_value
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
        | Rule::dynamic_host_setting => return None,
        // Begins with a string or a secret, which pest names.
        Rule::header_value => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parser::parse;

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
