//! ONTRAPORT "Post Data": `label=value&label=value`. The template is split
//! into pairs here, at compile time, on the `&` and `=` written in its literal
//! text; merged text can never split a pair, because it is encoded later.

use crate::span::{Span, Spanned};
use crate::syntax::ast::{Part, ShortString, Template};

/// One `label=value` pair of post data.
#[derive(Debug, Clone, PartialEq)]
pub struct PostPair {
    /// The label's parts.
    pub label: Vec<Part>,
    /// The value's parts; `None` when the pair has no `=`.
    pub value: Option<Vec<Part>>,
    /// The pair in the source, first to last character.
    pub span: Span,
}

impl PostPair {
    /// The label when it merges nothing.
    pub fn literal_label(&self) -> Option<String> {
        literal(&self.label)
    }

    /// The value when it merges nothing.
    pub fn literal_value(&self) -> Option<String> {
        self.value.as_deref().and_then(literal)
    }

    /// True for a pair with no label and no value (`a=1&&b=2`).
    pub fn is_empty(&self) -> bool {
        self.label.is_empty() && self.value.as_ref().is_none_or(|v| v.is_empty())
    }

    /// The span of the label (or of the pair when the label is empty).
    pub fn label_span(&self) -> Span {
        parts_span(&self.label).unwrap_or(self.span)
    }

    /// The span of the value, if it has one.
    pub fn value_span(&self) -> Option<Span> {
        self.value.as_deref().and_then(parts_span)
    }
}

fn literal(parts: &[Part]) -> Option<String> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(&t.node),
            Part::Merge(_) => return None,
        }
    }
    Some(out)
}

fn parts_span(parts: &[Part]) -> Option<Span> {
    let span = |p: &Part| match p {
        Part::Text(t) => t.span,
        Part::Merge(m) => m.span(),
    };
    Some(span(parts.first()?).to(span(parts.last()?)))
}

/// Splits post data into pairs at the literal `&` and the first literal `=`
/// of each pair. Spans of text pieces are exact when the source text had no
/// escapes; escaped text keeps the span of the whole text run.
pub fn split_pairs(template: &Template) -> Vec<PostPair> {
    let mut pairs = Vec::new();
    let mut current = PairBuilder::default();
    for part in template.parts().iter() {
        match part {
            Part::Merge(m) => current.push(Part::Merge(m.clone())),
            Part::Text(text) => {
                // Offsets are exact only if the text was written without escapes.
                let exact = text.span.len() == text.node.len();
                let mut piece_start = 0;
                for (i, c) in text.node.char_indices() {
                    if c == '&' || (c == '=' && current.value.is_none()) {
                        current.push_text(text, piece_start, i, exact);
                        if c == '&' {
                            pairs.push(std::mem::take(&mut current).finish(at(
                                text,
                                i,
                                i + 1,
                                exact,
                            )));
                        } else {
                            current.value = Some(Vec::new());
                            current.extend(at(text, i, i + 1, exact));
                        }
                        piece_start = i + 1;
                    }
                }
                current.push_text(text, piece_start, text.node.len(), exact);
            }
        }
    }
    if !template.parts().is_empty() {
        pairs.push(current.finish(Span::new(
            template.span.end as usize - 1,
            template.span.end as usize - 1,
        )));
    }
    pairs
}

fn at(text: &Spanned<ShortString>, start: usize, end: usize, exact: bool) -> Span {
    if exact {
        Span::new(
            text.span.start as usize + start,
            text.span.start as usize + end,
        )
    } else {
        text.span
    }
}

#[derive(Default)]
struct PairBuilder {
    label: Vec<Part>,
    value: Option<Vec<Part>>,
    span: Option<Span>,
}

impl PairBuilder {
    fn extend(&mut self, span: Span) {
        self.span = Some(self.span.map_or(span, |s| s.to(span)));
    }

    fn push(&mut self, part: Part) {
        let span = match &part {
            Part::Text(t) => t.span,
            Part::Merge(m) => m.span(),
        };
        self.extend(span);
        match &mut self.value {
            Some(v) => v.push(part),
            None => self.label.push(part),
        }
    }

    fn push_text(&mut self, text: &Spanned<ShortString>, start: usize, end: usize, exact: bool) {
        if start < end {
            let piece = Spanned::new(text.node[start..end].into(), at(text, start, end, exact));
            self.push(Part::Text(piece));
        }
    }

    fn finish(self, fallback: Span) -> PostPair {
        PostPair {
            label: self.label,
            value: self.value,
            span: self.span.unwrap_or(fallback),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::template::parse_template;

    fn pairs(raw: &str) -> Vec<PostPair> {
        let t = parse_template(raw, 1, Span::new(0, raw.len() + 2)).unwrap();
        split_pairs(&t)
    }

    #[test]
    fn splits_the_seed_examples() {
        let p = pairs("First_Name=[First Name]&Email=[Email]");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].literal_label().as_deref(), Some("First_Name"));
        assert_eq!(p[1].literal_label().as_deref(), Some("Email"));
        assert_eq!(p[0].label_span(), Span::new(1, 11));
        let p = pairs("id=0&data=Note inserted by webhook using new API.&author=1");
        assert_eq!(
            p[1].literal_value().as_deref(),
            Some("Note inserted by webhook using new API.")
        );
    }

    #[test]
    fn equals_in_a_value_stays_in_the_value() {
        let p = pairs("q=a=b");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].literal_value().as_deref(), Some("a=b"));
    }

    #[test]
    fn empty_pairs_and_missing_equals_are_visible() {
        let p = pairs("a=1&&b");
        assert_eq!(p.len(), 3);
        assert!(p[1].is_empty());
        assert!(p[2].value.is_none());
        assert!(pairs("").is_empty());
        assert!(pairs("a=1&")[1].is_empty());
    }
}
