//! Hover: on a merge, the field (where it comes from, a few sample values),
//! its filters, and how its text is escaped where it stands (form, URL,
//! JSON, header, plain text); on a filter, the filter's paragraph; on a
//! keyword or setting, its paragraph. The line under the cursor is read
//! lexically and its strings and merges lexed with the parser's own template
//! lexer, so hover answers on a file that does not parse.

use super::complete::field_names;
use super::context::{scan, Block};
use super::docs;
use super::knowledge::Knowledge;
use crate::span::Span;
use crate::syntax::ast::{Filter, FilterArg, Merge};
use crate::syntax::template::{parse_merge, parse_template};

/// What hover shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hover {
    /// The text it is about.
    pub span: Span,
    /// Markdown.
    pub markdown: String,
}

/// Where a merge stands, which decides its escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// `post` data.
    Form,
    /// A `url`.
    Url,
    /// A string in a `json` body.
    JsonString,
    /// A bare merge in a `json` body.
    JsonValue,
    /// A `header` value.
    Header,
    /// A note, a tag name, a condition, a `field set` value.
    Text,
    /// `wait until [Date]`.
    Date,
    /// The field a `field set` or `capture` writes.
    Target,
}

impl Place {
    fn describe(self, raw: bool) -> &'static str {
        match (self, raw) {
            (Place::Form, false) => "**Escaping (post data):** form-urlencoded as the WHATWG URL serializer does: letters, digits and `*-._` stay, a space becomes `+`, every other byte `%XX`; an `&` or `=` in the value is data and never splits the pair.",
            (Place::Url, false) => "**Escaping (URL):** percent-encoded like JavaScript's `encodeURIComponent`: letters, digits and `-_.!~*'()` stay, every other byte becomes `%XX`, so a merge can never add a `/`, `?`, `&` or `#`.",
            (Place::JsonString, false) => "**Escaping (JSON string):** JSON-escaped as serde_json does (`\"` → `\\\"`, `\\` → `\\\\`, control characters → `\\n`, `\\u0001`).",
            (Place::JsonValue, false) => "**JSON value:** a JSON string (`\"\"` when empty); with `| number` a JSON number, or `null` when empty.",
            (Place::Form, true) => "**Escaping (post data):** none: `| raw` inserts the text as is (it warns).",
            (Place::Url, true) => "**Escaping (URL):** none: `| raw` inserts the text as is and may add path segments; the URL is still checked per contact (it warns).",
            (Place::JsonString, true) => "**Escaping (JSON string):** none: `| raw` inserts the text unescaped (it warns).",
            (Place::JsonValue, true) => "**JSON value:** `| raw` writes the text unquoted; an empty field gives invalid JSON (it warns).",
            (Place::Header, _) => "**Escaping (header):** none; a merged value holding CR, LF or NUL, or another control character but tab, fails the contact and nothing is sent (`| raw` does not lift this).",
            (Place::Text, _) => "**Escaping:** none: merged as plain text.",
            (Place::Date, _) => "**Read as a date:** RFC 3339, `2026-11-27`, `2026-11-27 09:30:00` or Unix seconds; an unreadable value fails the contact.",
            (Place::Target, _) => "**Written:** this step stores a value into the field; later merges see it.",
        }
    }
}

/// The hover at byte `offset`.
pub fn hover(text: &str, offset: usize, knowledge: &Knowledge) -> Option<Hover> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let block = scan(text, line_start).block();
    let line = &text[line_start..line_end];
    let bytes = line.as_bytes();
    let first_word: &str = line
        .trim_start()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("");
    let mut i = 0;
    while i < bytes.len() {
        let at = line_start + i;
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => return None,
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let end = line_start + j.min(bytes.len());
                if (at..=end).contains(&offset) {
                    if line[..i].trim_end().ends_with("secret(") {
                        return secret(text, at, end, knowledge);
                    }
                    let span = Span::new(at, (end + 1).min(line_end));
                    let template = parse_template(&text[at + 1..end], at + 1, span).ok()?;
                    let merge = template.merges().find(|m| contains(m.span(), offset))?;
                    let place = string_place(block, first_word, &line[..i]);
                    return Some(merge_hover(text, merge, offset, place, knowledge));
                }
                i = j + 1;
            }
            b'[' => {
                let mut j = i + 1;
                let mut quoted = false;
                while j < bytes.len() && (quoted || bytes[j] != b']') {
                    match bytes[j] {
                        b'\'' => quoted = !quoted,
                        b'\\' => j += 1,
                        _ => {}
                    }
                    j += 1;
                }
                let end = line_start + j.min(bytes.len());
                if (at..=end).contains(&offset) {
                    let span = Span::new(at, (end + 1).min(line_end));
                    let merge = parse_merge(&text[at + 1..end], at + 1, span).ok()?;
                    let place = bare_place(block, first_word, &line[..i]);
                    return Some(merge_hover(text, &merge, offset, place, knowledge));
                }
                i = j + 1;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let mut j = i;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                let end = line_start + j;
                if (at..=end).contains(&offset) {
                    return keyword(&line[i..j], Span::new(at, end));
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    None
}

fn contains(span: Span, offset: usize) -> bool {
    span.start as usize <= offset && offset <= span.end as usize
}

fn string_place(block: Block, first_word: &str, before: &str) -> Place {
    if block == Block::Json || (block == Block::Webhook && first_word == "json") {
        return Place::JsonString;
    }
    match first_word {
        "url" if block == Block::Webhook => Place::Url,
        "post" if block == Block::Webhook => Place::Form,
        "header" if block == Block::Webhook && before.contains('=') => Place::Header,
        "wait" => Place::Date,
        _ => Place::Text,
    }
}

fn bare_place(block: Block, first_word: &str, before: &str) -> Place {
    if block == Block::Json || (block == Block::Webhook && first_word == "json") {
        return Place::JsonValue;
    }
    match first_word {
        "capture" if !before.contains('=') => Place::Target,
        "field" if !before.contains('=') => Place::Target,
        "wait" => Place::Date,
        _ => Place::Text,
    }
}

fn filter_text(f: &Filter) -> String {
    let args: Vec<String> = f
        .args
        .iter()
        .map(|a| match &a.node {
            FilterArg::Str(s) => format!("'{s}'"),
            FilterArg::Number(n) => n.to_string(),
        })
        .collect();
    if args.is_empty() {
        f.name.node.to_string()
    } else {
        format!("{}: {}", f.name.node, args.join(", "))
    }
}

fn merge_hover(
    text: &str,
    merge: &Merge,
    offset: usize,
    place: Place,
    knowledge: &Knowledge,
) -> Hover {
    if let Some(f) = merge
        .filters()
        .iter()
        .find(|f| contains(f.name.span, offset))
    {
        let markdown = match docs::filter(&f.name.node) {
            Some((args, doc)) => format!("**`| {}{args}`** (filter)\n\n{doc}", f.name.node),
            None => format!(
                "`{}` is not a filter: filters are {}",
                f.name.node,
                crate::filters::FILTER_NAMES.join(", ")
            ),
        };
        return Hover {
            span: f.name.span,
            markdown,
        };
    }
    let name = merge.field.node.as_str();
    let mut out = format!("**`[{name}]`**");
    let origin = field_names(text, knowledge)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, origin)| origin);
    match (origin, &knowledge.schema) {
        (Some(origin), _) => out.push_str(&format!(" ({origin})")),
        (None, Some(schema)) => out.push_str(&format!(" (not a field of {})", schema.origin)),
        (None, None) => out.push_str(" (a contact field)"),
    }
    if !merge.filters().is_empty() {
        let list: Vec<String> = merge
            .filters()
            .iter()
            .map(|f| format!("`{}`", filter_text(f)))
            .collect();
        out.push_str(&format!(
            "\n\n**Filters**, left to right: {}",
            list.join(" → ")
        ));
    }
    let raw = merge.filters().iter().any(|f| f.name.node == "raw");
    let place = if place == Place::JsonValue
        && merge.filters().iter().any(|f| f.name.node == "number")
        && !raw
    {
        out.push_str("\n\n**JSON value:** a JSON number (`| number`), or `null` when empty.");
        None
    } else {
        Some(place)
    };
    if let Some(place) = place {
        out.push_str("\n\n");
        out.push_str(place.describe(raw));
    }
    if let Some(values) = knowledge.samples.get(name) {
        let list: Vec<String> = values
            .iter()
            .map(|v| format!("`{}`", v.replace('`', "'")))
            .collect();
        out.push_str(&format!("\n\n**Sample values:** {}", list.join(", ")));
    }
    Hover {
        span: merge.span(),
        markdown: out,
    }
}

fn secret(text: &str, quote: usize, end: usize, knowledge: &Knowledge) -> Option<Hover> {
    let name = &text[quote + 1..end];
    let file = knowledge
        .workspace
        .as_ref()
        .and_then(|w| w.env_file.as_ref());
    let status = match file {
        Some(file) if knowledge.secrets.iter().any(|s| s == name) => {
            format!("defined in {}", file.display())
        }
        Some(file) => format!("not defined in {}", file.display()),
        None => "read from the environment in a real run".to_string(),
    };
    Some(Hover {
        span: Span::new(quote, (end + 1).min(text.len())),
        markdown: format!("**secret `{name}`**: {status}; a dry run shows `***`."),
    })
}

fn keyword(word: &str, span: Span) -> Option<Hover> {
    let key = if ["GET", "POST", "PUT", "PATCH", "DELETE"]
        .contains(&word.to_ascii_uppercase().as_str())
    {
        "method"
    } else {
        word
    };
    let (syntax, doc) = docs::keyword(key)?;
    Some(Hover {
        span,
        markdown: format!("{syntax}\n\n{doc}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Schema;
    use proptest::prelude::*;

    proptest! {
        /// Half-typed text of any shape, any place: hover and completion
        /// answer or say nothing, never panic.
        #[test]
        fn any_text_any_place(
            pieces in proptest::collection::vec(
                "campaign|webhook|json|url|post|header|method|note|secret\\(|\\{|\\}|\\[|\\]|\\||\"|'|\\\\|:|=|//|é|😀| |\n|[a-z]",
                0..40,
            ),
        ) {
            let text: String = pieces.concat();
            let knowledge = Knowledge::default();
            for (offset, _) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
                let _ = hover(&text, offset, &knowledge);
                let _ = super::super::complete::complete(&text, offset, &knowledge, true);
            }
        }
    }

    fn at(source: &str, knowledge: &Knowledge) -> Option<Hover> {
        let at = source.find('¦').unwrap();
        hover(&source.replacen('¦', "", 1), at, knowledge)
    }

    #[test]
    fn merges_tell_their_escaping_by_place() {
        let k = Knowledge {
            schema: Some(Schema {
                fields: vec!["Email".into()],
                origin: "the sample contacts".into(),
            }),
            samples: [("Email".to_string(), vec!["ada@example.org".to_string()])].into(),
            ..Knowledge::default()
        };
        let h = at(
            "campaign \"C\" {\n webhook \"W\" {\n  url \"https://x.example/?e=[Em¦ail | lower]\"\n",
            &k,
        )
        .unwrap();
        assert!(
            h.markdown.starts_with("**`[Email]`** (sample contacts)"),
            "{}",
            h.markdown
        );
        assert!(h.markdown.contains("`lower`") && h.markdown.contains("encodeURIComponent"));
        assert!(h.markdown.contains("`ada@example.org`"));
        let h = at(
            "campaign \"C\" {\n webhook \"W\" {\n  post \"e=[Email]&s=[S¦core | raw]\"\n",
            &k,
        )
        .unwrap();
        assert!(h.markdown.contains("(not a field of the sample contacts)"));
        assert!(h.markdown.contains("post data):** none"), "{}", h.markdown);
        let h = at(
            "campaign \"C\" {\n webhook \"W\" {\n  json {\n   \"s\": [Sc¦ore | number],\n",
            &k,
        )
        .unwrap();
        assert!(h.markdown.contains("a JSON number"), "{}", h.markdown);
        let h = at(
            "campaign \"C\" {\n webhook \"W\" {\n  header \"X\" = \"[Em¦ail]\"\n",
            &k,
        )
        .unwrap();
        assert!(h.markdown.contains("Escaping (header)"), "{}", h.markdown);
        let h = at("campaign \"C\" {\n note \"[Email | up¦per]\"\n", &k).unwrap();
        assert!(
            h.markdown.starts_with("**`| upper`** (filter)"),
            "{}",
            h.markdown
        );
    }

    #[test]
    fn keywords_and_nothing_in_comments() {
        let k = Knowledge::default();
        let h = at("campaign \"C\" {\n webhook \"W\" {\n  ret¦ry 3\n", &k).unwrap();
        assert!(h.markdown.starts_with("`retry 3`"));
        assert!(at("campaign \"C\" { // ret¦ry\n", &k).is_none());
        assert!(
            at("campaign \"C\" {\n webhook \"W\" {\n  method pu¦t\n", &k)
                .unwrap()
                .markdown
                .contains("HTTP method")
        );
    }
}
