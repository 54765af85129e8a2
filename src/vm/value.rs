//! Runtime values and the comparison rules conditions use.
//!
//! Contact fields are text. A value only becomes a number through a number
//! literal or `| number`, and comparisons read text as a number only where
//! the rules below say so, so a field never silently changes meaning.

use std::borrow::Cow;

use crate::encode::write_number;
use crate::syntax::ast::CompareOp;

/// A value while a step runs: borrowed field text where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Text; a missing or empty field is `Text("")`.
    Text(Cow<'a, str>),
    /// A finite number (never NaN or infinite).
    Number(f64),
    /// `true` / `false`.
    Bool(bool),
    /// What `| number` yields for an empty or whitespace-only field: "no
    /// number", as opposed to zero.
    Empty,
}

impl<'a> Value<'a> {
    /// Appends the text form: numbers as [`write_number`] shows them,
    /// `true`/`false`, and nothing for [`Value::Empty`].
    pub fn write_text(&self, out: &mut String) {
        match self {
            Value::Text(t) => out.push_str(t),
            Value::Number(n) => write_number(out, *n),
            Value::Bool(b) => out.push_str(bool_str(*b)),
            Value::Empty => {}
        }
    }

    /// The text form, borrowed unless the value is a number.
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            Value::Text(t) => Cow::Borrowed(t),
            Value::Number(_) => Cow::Owned(self.owned_text()),
            Value::Bool(b) => Cow::Borrowed(bool_str(*b)),
            Value::Empty => Cow::Borrowed(""),
        }
    }

    /// The text form, consuming the value so borrowed text stays borrowed
    /// for the value's whole lifetime (filters chain on this).
    pub fn into_text(self) -> Cow<'a, str> {
        match self {
            Value::Text(t) => t,
            Value::Number(_) => Cow::Owned(self.owned_text()),
            Value::Bool(b) => Cow::Borrowed(bool_str(b)),
            Value::Empty => Cow::Borrowed(""),
        }
    }

    /// True for [`Value::Empty`] and for text that is empty or only
    /// whitespace; numbers and bools are never empty.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Empty => true,
            Value::Text(t) => t.trim().is_empty(),
            Value::Number(_) | Value::Bool(_) => false,
        }
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Text(t) => Value::Text(Cow::Owned(t.into_owned())),
            Value::Number(n) => Value::Number(n),
            Value::Bool(b) => Value::Bool(b),
            Value::Empty => Value::Empty,
        }
    }

    /// The value read as a number: numbers, and text [`parse_number`]
    /// accepts.
    fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Text(t) => parse_number(t),
            Value::Bool(_) | Value::Empty => None,
        }
    }

    fn owned_text(&self) -> String {
        let mut out = String::new();
        self.write_text(&mut out);
        out
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// Reads text as a number, the way `| number` and comparisons do.
///
/// Surrounding whitespace is ignored. Accepted: an optional sign, digits
/// with an optional decimal point (`50`, `-2.5`, `+3`, `.5`, `5.`), and an
/// optional exponent (`1e3`, `2.5E-2`). Rejected: empty text, `nan`, `inf`,
/// hex, thousands separators (`1,000`), currency signs, and anything too
/// large to be finite.
pub fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let bytes = s.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_digits = count_digits(&bytes[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&bytes[i..]);
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = count_digits(&bytes[i..]);
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != bytes.len() {
        return None;
    }
    // The shape above is a subset of what `f64::from_str` accepts.
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// Whether `left op right` holds. These rules are the language's
/// comparison semantics:
///
/// **`==` and `!=`**
/// - If either side is a number, both must read as numbers (text through
///   [`parse_number`]) and are compared numerically (`"50" == 50`,
///   `" 5.0 " == 5`); anything else (`"abc"`, empty, a bool) is not equal.
/// - Bool against bool compares the values. Bool against text reads the text
///   `true`/`false` (any case, surrounding whitespace ignored); any other
///   text is not equal. Bool against empty is not equal.
/// - Empty (from `| number`) equals empty and text that is empty or only
///   whitespace.
/// - Text against text is exact, case-sensitive byte equality
///   (`"Gold" != "gold"`, `"" != " "`).
/// - `!=` is exactly the negation of `==`.
///
/// **`<`, `<=`, `>`, `>=`**
/// - If both sides read as numbers (a number, or text [`parse_number`]
///   accepts) they compare numerically, so `"10" > "9"`.
/// - Otherwise, if both are text, they compare by Unicode code point, so
///   ISO dates (`2026-01-31 < 2026-02-01`) order correctly.
/// - In every other case (empty, or non-numeric text against a number, or
///   bools) the comparison is false: the condition is simply not met. Both
///   `[Score | number] < 10` and `[Score | number] >= 10` are false for an
///   empty score.
///
/// **`contains`, `starts_with`, `ends_with`** test the text forms,
/// case-sensitively; numbers use their shown form (`50`, `2.5`), bools
/// `true`/`false`, and empty acts as `""` (so `contains ""` always holds).
pub fn compare(op: CompareOp, left: &Value<'_>, right: &Value<'_>) -> bool {
    match op {
        CompareOp::Eq => equal(left, right),
        CompareOp::Ne => !equal(left, right),
        CompareOp::Lt => order(left, right).is_some_and(|o| o.is_lt()),
        CompareOp::Le => order(left, right).is_some_and(|o| o.is_le()),
        CompareOp::Gt => order(left, right).is_some_and(|o| o.is_gt()),
        CompareOp::Ge => order(left, right).is_some_and(|o| o.is_ge()),
        CompareOp::Contains => left.to_text().contains(&*right.to_text()),
        CompareOp::StartsWith => left.to_text().starts_with(&*right.to_text()),
        CompareOp::EndsWith => left.to_text().ends_with(&*right.to_text()),
    }
}

fn equal(left: &Value<'_>, right: &Value<'_>) -> bool {
    use Value::*;
    match (left, right) {
        (Number(_), _) | (_, Number(_)) => match (left.as_number(), right.as_number()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        (Bool(a), Bool(b)) => a == b,
        (Bool(b), Text(t)) | (Text(t), Bool(b)) => parse_bool(t) == Some(*b),
        (Empty, Empty) => true,
        (Empty, Text(t)) | (Text(t), Empty) => t.trim().is_empty(),
        (Text(a), Text(b)) => a == b,
        (Bool(_), Empty) | (Empty, Bool(_)) => false,
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The ordering of two values, or `None` when they do not compare.
fn order(left: &Value<'_>, right: &Value<'_>) -> Option<std::cmp::Ordering> {
    if let (Some(a), Some(b)) = (left.as_number(), right.as_number()) {
        return a.partial_cmp(&b);
    }
    match (left, right) {
        // `str`'s order is bytewise, which for UTF-8 is code point order.
        (Value::Text(a), Value::Text(b)) => Some(a.as_ref().cmp(b.as_ref())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use CompareOp::*;

    fn text(s: &str) -> Value<'_> {
        Value::Text(Cow::Borrowed(s))
    }

    const N: fn(f64) -> Value<'static> = Value::Number;
    const B: fn(bool) -> Value<'static> = Value::Bool;
    const E: Value<'static> = Value::Empty;

    fn holds(l: &Value<'_>, op: CompareOp, r: &Value<'_>) -> bool {
        compare(op, l, r)
    }

    #[test]
    fn text_forms() {
        let mut out = String::from(">");
        N(50.0).write_text(&mut out);
        N(-2.5).write_text(&mut out);
        B(true).write_text(&mut out);
        E.write_text(&mut out);
        text("x").write_text(&mut out);
        assert_eq!(out, ">50-2.5truex");
        assert_eq!(N(3.0).to_text(), "3");
        assert_eq!(B(false).to_text(), "false");
        assert_eq!(E.to_text(), "");
        assert!(matches!(text("a").to_text(), Cow::Borrowed("a")));
        assert!(matches!(text("a").into_text(), Cow::Borrowed("a")));
        assert_eq!(N(0.5).into_text(), "0.5");
    }

    #[test]
    fn emptiness() {
        assert!(E.is_empty());
        assert!(text("").is_empty());
        assert!(text(" \t\n").is_empty());
        assert!(!text(" a ").is_empty());
        assert!(!N(0.0).is_empty());
        assert!(!B(false).is_empty());
    }

    #[test]
    fn into_owned_keeps_value() {
        let s = String::from("hi");
        let owned = text(&s).into_owned();
        drop(s);
        assert_eq!(owned, Value::Text(Cow::Owned("hi".into())));
        assert_eq!(N(1.0).into_owned(), N(1.0));
        assert_eq!(E.into_owned(), E);
    }

    #[test]
    fn parse_number_accepts_plain_decimals() {
        for (s, n) in [
            ("50", 50.0),
            ("-2.5", -2.5),
            ("+3", 3.0),
            ("1e3", 1000.0),
            ("2.5E-2", 0.025),
            (".5", 0.5),
            ("5.", 5.0),
            ("  7 ", 7.0),
            ("007", 7.0),
            ("-0", 0.0),
        ] {
            assert_eq!(parse_number(s), Some(n), "{s:?}");
        }
    }

    #[test]
    fn parse_number_rejects_the_rest() {
        for s in [
            "", "  ", "nan", "NaN", "inf", "-inf", "infinity", "0x10", "1,000", "1_000", "$5",
            "5%", "1e", "1e+", "e3", ".", "-", "+", "1.2.3", "--1", "1 2", "1e400", "٣",
        ] {
            assert_eq!(parse_number(s), None, "{s:?}");
        }
    }

    #[test]
    fn equality_with_numbers_is_numeric() {
        assert!(holds(&N(50.0), Eq, &N(50.0)));
        assert!(holds(&text("50"), Eq, &N(50.0)));
        assert!(holds(&N(5.0), Eq, &text(" 5.0 ")));
        assert!(holds(&text("1e2"), Eq, &N(100.0)));
        assert!(!holds(&text("abc"), Eq, &N(0.0)));
        assert!(!holds(&text(""), Eq, &N(0.0)));
        assert!(!holds(&E, Eq, &N(0.0)));
        assert!(!holds(&B(true), Eq, &N(1.0)));
        assert!(holds(&text("abc"), Ne, &N(0.0)));
        assert!(holds(&E, Ne, &N(0.0)));
    }

    #[test]
    fn equality_with_bools() {
        assert!(holds(&B(true), Eq, &B(true)));
        assert!(!holds(&B(true), Eq, &B(false)));
        assert!(holds(&text(" TRUE "), Eq, &B(true)));
        assert!(holds(&B(false), Eq, &text("False")));
        assert!(!holds(&text("yes"), Eq, &B(true)));
        assert!(!holds(&text("1"), Eq, &B(true)));
        assert!(!holds(&text(""), Eq, &B(false)));
        assert!(!holds(&E, Eq, &B(false)));
        assert!(holds(&E, Ne, &B(false)));
    }

    #[test]
    fn equality_with_empty() {
        assert!(holds(&E, Eq, &E));
        assert!(holds(&E, Eq, &text("")));
        assert!(holds(&text("  "), Eq, &E));
        assert!(!holds(&E, Eq, &text("x")));
        assert!(holds(&E, Ne, &text("x")));
    }

    #[test]
    fn equality_of_text_is_exact() {
        assert!(holds(&text("Gold"), Eq, &text("Gold")));
        assert!(!holds(&text("Gold"), Eq, &text("gold")));
        assert!(!holds(&text(""), Eq, &text(" ")));
        assert!(!holds(&text("5"), Eq, &text("5.0")));
        assert!(holds(&text(""), Eq, &text("")));
        assert!(holds(&text("Gold"), Ne, &text("gold")));
    }

    #[test]
    fn ordering_is_numeric_when_both_read_as_numbers() {
        assert!(holds(&text("10"), Gt, &text("9")));
        assert!(holds(&text("10"), Gt, &N(9.0)));
        assert!(holds(&N(-1.0), Lt, &text("0")));
        assert!(holds(&N(3.0), Le, &N(3.0)));
        assert!(holds(&N(3.0), Ge, &text("3")));
        assert!(!holds(&N(3.0), Lt, &N(3.0)));
    }

    #[test]
    fn ordering_of_text_is_by_code_point() {
        assert!(holds(&text("2026-01-31"), Lt, &text("2026-02-01")));
        assert!(holds(
            &text("2026-11-27T09:30:00Z"),
            Gt,
            &text("2026-11-27T09:00:00Z")
        ));
        assert!(holds(&text("B"), Lt, &text("a")));
        assert!(holds(&text("z"), Lt, &text("é")));
        assert!(holds(&text(""), Lt, &text("a")));
        assert!(holds(&text("abc"), Ge, &text("abc")));
        // "10" is numeric but "9a" is not, so this is text order.
        assert!(holds(&text("10"), Lt, &text("9a")));
    }

    #[test]
    fn ordering_otherwise_never_holds() {
        for op in [Lt, Le, Gt, Ge] {
            assert!(!holds(&E, op, &N(10.0)), "{op:?}");
            assert!(!holds(&N(10.0), op, &E), "{op:?}");
            assert!(!holds(&E, op, &E), "{op:?}");
            assert!(!holds(&E, op, &text("")), "{op:?}");
            assert!(!holds(&text("abc"), op, &N(1.0)), "{op:?}");
            assert!(!holds(&text(""), op, &N(0.0)), "{op:?}");
            assert!(!holds(&B(true), op, &B(false)), "{op:?}");
            assert!(!holds(&B(true), op, &text("true")), "{op:?}");
            assert!(!holds(&B(false), op, &N(1.0)), "{op:?}");
        }
    }

    #[test]
    fn text_tests() {
        assert!(holds(
            &text("ada@example.com"),
            EndsWith,
            &text("@example.com")
        ));
        assert!(holds(&text("Gold Member"), StartsWith, &text("Gold")));
        assert!(!holds(&text("Gold Member"), StartsWith, &text("gold")));
        assert!(holds(&text("Gold Member"), Contains, &text("d M")));
        assert!(holds(&E, Contains, &text("")));
        assert!(holds(&text("x"), Contains, &E));
        assert!(!holds(&E, Contains, &text("a")));
        assert!(holds(&N(2.5), StartsWith, &text("2.")));
        assert!(holds(&N(50.0), EndsWith, &N(0.0)));
        assert!(holds(&B(true), Contains, &text("ru")));
    }

    fn value() -> impl Strategy<Value = Value<'static>> {
        prop_oneof![
            any::<String>().prop_map(|s| Value::Text(Cow::Owned(s))),
            "[ +-]?[0-9]{0,3}(\\.[0-9]{0,2})?".prop_map(|s| Value::Text(Cow::Owned(s))),
            "(?i) ?(true|false) ?".prop_map(|s| Value::Text(Cow::Owned(s))),
            (-1e6..1e6f64).prop_map(Value::Number),
            (-50i32..50).prop_map(|n| Value::Number(n.into())),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Empty),
        ]
    }

    proptest! {
        #[test]
        fn ne_negates_eq(a in value(), b in value()) {
            prop_assert_eq!(compare(Ne, &a, &b), !compare(Eq, &a, &b));
        }

        #[test]
        fn eq_is_symmetric(a in value(), b in value()) {
            prop_assert_eq!(compare(Eq, &a, &b), compare(Eq, &b, &a));
        }

        #[test]
        fn order_is_consistent(a in value(), b in value()) {
            let lt = compare(Lt, &a, &b);
            let gt = compare(Gt, &a, &b);
            prop_assert!(!(lt && gt));
            prop_assert_eq!(lt, compare(Gt, &b, &a));
            prop_assert_eq!(compare(Le, &a, &b), compare(Ge, &b, &a));
            if lt || gt {
                prop_assert!(!compare(Eq, &a, &b));
            }
        }

        #[test]
        fn number_text_round_trips(n in any::<f64>().prop_filter("finite", |n| n.is_finite())) {
            let shown = Value::Number(n).to_text().into_owned();
            prop_assert_eq!(parse_number(&shown), Some(n + 0.0));
            prop_assert!(compare(Eq, &Value::Text(Cow::Owned(shown)), &Value::Number(n)));
        }

        #[test]
        fn parse_number_never_yields_non_finite(s in any::<String>()) {
            prop_assert!(parse_number(&s).is_none_or(f64::is_finite));
        }
    }
}
