//! Context escapers for merged values.
//!
//! Every function appends to a caller-owned `String` so rendering a webhook
//! reuses one buffer. Percent-encoding is the `form_urlencoded` and
//! `percent-encoding` crates' (the `url` crate's own), which copy runs of
//! safe bytes whole; JSON strings are escaped here, byte for byte as
//! serde_json writes them.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The bytes JavaScript's `encodeURIComponent` escapes: all but ASCII
/// alphanumerics and `- _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Appends `s` encoded as `application/x-www-form-urlencoded`, as the WHATWG
/// URL serializer does (`form_urlencoded::byte_serialize`, which hands back
/// runs of safe bytes whole): ASCII alphanumerics and `*-._` stay, space
/// becomes `+`, every other UTF-8 byte becomes `%XX`.
pub fn form_urlencode_into(out: &mut String, s: &str) {
    out.extend(form_urlencoded::byte_serialize(s.as_bytes()));
}

/// Appends `s` percent-encoded as a URL component, like JavaScript's
/// `encodeURIComponent`: `A-Z a-z 0-9 - _ . ! ~ * ' ( )` stay, every other
/// UTF-8 byte becomes `%XX`. Safe for paths and query values alike.
pub fn url_component_into(out: &mut String, s: &str) {
    out.extend(utf8_percent_encode(s, URI_COMPONENT));
}

/// Copies runs of `safe` bytes whole and hands every other byte to `escape`.
///
/// Safe bytes are all ASCII, so every non-empty run starts and ends on a
/// char boundary; `get` keeps that panic-free by construction (an empty run
/// between two bytes of one escaped char is simply skipped).
fn escape_bytes(out: &mut String, s: &str, safe: &[bool; 256], escape: impl Fn(&mut String, u8)) {
    let bytes = s.as_bytes();
    if bytes.iter().all(|&b| safe[usize::from(b)]) {
        out.push_str(s);
        return;
    }
    out.reserve(s.len());
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !safe[usize::from(b)] {
            out.push_str(s.get(run..i).unwrap_or(""));
            escape(out, b);
            run = i + 1;
        }
    }
    out.push_str(s.get(run..).unwrap_or(""));
}

/// Appends the contents of a JSON string literal for `s` (without the
/// surrounding quotes), identical to what `serde_json` writes: `"` and `\`
/// are backslash-escaped, `\b \f \n \r \t` use their short forms, and other
/// control characters become `\u00xx` (lowercase hex, as serde_json does).
pub fn json_string_into(out: &mut String, s: &str) {
    const JSON_SAFE: [bool; 256] = {
        let mut table = [true; 256];
        let mut b = 0;
        while b < 0x20 {
            table[b] = false;
            b += 1;
        }
        table[b'"' as usize] = false;
        table[b'\\' as usize] = false;
        table
    };
    const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";
    escape_bytes(out, s, &JSON_SAFE, |out, b| match b {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        0x08 => out.push_str("\\b"),
        0x0c => out.push_str("\\f"),
        _ => {
            out.push_str("\\u00");
            out.push(char::from(LOWER_HEX[usize::from(b >> 4)]));
            out.push(char::from(LOWER_HEX[usize::from(b & 0xf)]));
        }
    });
}

/// `s` as XML 1.0 text or a double-quoted attribute value (the graph's
/// SVG, `campaign test`'s JUnit report): the five markup characters
/// escaped, and the control characters XML 1.0 has no place for (below
/// U+0020 but tab, newline and carriage return) replaced by U+FFFD, so that
/// any text makes a well-formed document.
pub fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// True when `s` can go into an HTTP header value: no `\r` or `\n` (which
/// would let a merged value inject headers), and no other ASCII control
/// character but tab (what the HTTP client refuses to send, RFC 9110).
pub fn header_value_is_safe(s: &str) -> bool {
    !s.bytes().any(|b| b != b'\t' && b.is_ascii_control())
}

/// Appends a number the way merges show it: whole numbers below 2^53 without
/// a decimal point (`50`, `-3`, and `0` for `-0`), anything else in `ryu`'s
/// shortest round-tripping form with a trailing `.0` removed (`2.5`,
/// `1e-7`, `1e21`).
///
/// Callers never pass NaN or infinities: number parsing and literals reject
/// them. Should one slip through it is written as `NaN`/`inf`, not a panic.
pub fn write_number(out: &mut String, n: f64) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if n.is_finite() && n.fract() == 0.0 && n.abs() < EXACT {
        // Exact: every integer below 2^53 fits an i64 without rounding.
        let mut buf = [0u8; 20];
        out.push_str(format_int(n as i64, &mut buf));
        return;
    }
    let mut buf = ryu::Buffer::new();
    let text = buf.format(n);
    out.push_str(text.strip_suffix(".0").unwrap_or(text));
}

/// Formats an integer into `buf` without going through `fmt` machinery.
fn format_int(n: i64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    let mut rest = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    // Only ASCII digits and '-' were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn xml_text_escapes_markup_and_replaces_what_xml_cannot_hold() {
        assert_eq!(
            xml_text("a<b>&\"c\" 'd'"),
            "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;"
        );
        assert_eq!(xml_text("t\tn\nr\r"), "t\tn\nr\r");
        assert_eq!(xml_text("bell\u{7}nul\u{0}"), "bell\u{FFFD}nul\u{FFFD}");
        assert_eq!(xml_text("é😀"), "é😀");
    }

    fn form(s: &str) -> String {
        let mut out = String::new();
        form_urlencode_into(&mut out, s);
        out
    }

    fn component(s: &str) -> String {
        let mut out = String::new();
        url_component_into(&mut out, s);
        out
    }

    fn json(s: &str) -> String {
        let mut out = String::new();
        json_string_into(&mut out, s);
        out
    }

    fn number(n: f64) -> String {
        let mut out = String::new();
        write_number(&mut out, n);
        out
    }

    #[test]
    fn form_examples() {
        assert_eq!(form("Ada Lovelace"), "Ada+Lovelace");
        assert_eq!(form("a&b=c"), "a%26b%3Dc");
        assert_eq!(form("x*y-z._~"), "x*y-z._%7E");
        assert_eq!(form("café"), "caf%C3%A9");
        assert_eq!(form("+"), "%2B");
        assert_eq!(form(""), "");
    }

    #[test]
    fn form_appends() {
        let mut out = String::from("name=");
        form_urlencode_into(&mut out, "A B");
        out.push_str("&x=");
        form_urlencode_into(&mut out, "safe");
        assert_eq!(out, "name=A+B&x=safe");
    }

    #[test]
    fn component_examples() {
        assert_eq!(component("a b"), "a%20b");
        assert_eq!(component("-_.!~*'()"), "-_.!~*'()");
        assert_eq!(component("a/b?c=d&e#f"), "a%2Fb%3Fc%3Dd%26e%23f");
        assert_eq!(component("ü"), "%C3%BC");
        assert_eq!(component("😀"), "%F0%9F%98%80");
        assert_eq!(component("+%"), "%2B%25");
    }

    #[test]
    fn json_examples() {
        assert_eq!(json("plain"), "plain");
        assert_eq!(json("say \"hi\"\\"), "say \\\"hi\\\"\\\\");
        assert_eq!(json("a\nb\rc\td\u{8}e\u{c}"), "a\\nb\\rc\\td\\be\\f");
        assert_eq!(json("\u{0}\u{1f}\u{7f}"), "\\u0000\\u001f\u{7f}");
        assert_eq!(json("</script> é"), "</script> é");
    }

    #[test]
    fn header_safety() {
        assert!(header_value_is_safe("Bearer abc"));
        assert!(header_value_is_safe(""));
        assert!(header_value_is_safe("tab\tis fine"));
        assert!(!header_value_is_safe("a\r\nX-Evil: 1"));
        assert!(!header_value_is_safe("a\nb"));
        assert!(!header_value_is_safe("a\rb"));
        assert!(!header_value_is_safe("a\0b"));
        assert!(!header_value_is_safe("a\u{b}b"));
        assert!(!header_value_is_safe("a\u{7f}b"));
        assert!(header_value_is_safe("é \u{85}"));
    }

    #[test]
    fn number_examples() {
        assert_eq!(number(50.0), "50");
        assert_eq!(number(-3.0), "-3");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(-0.125), "-0.125");
        assert_eq!(number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(number(1e-7), "1e-7");
        assert_eq!(number(9_007_199_254_740_991.0), "9007199254740991");
        assert_eq!(number(9_007_199_254_740_992.0), "9007199254740992");
        assert_eq!(number(1e21), "1e21");
        assert_eq!(number(1e16), "1e16");
        assert_eq!(number(-9.223372036854776e18), "-9.223372036854776e18");
    }

    #[test]
    fn number_non_finite_does_not_panic() {
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "inf");
    }

    proptest! {
        #[test]
        fn form_matches_form_urlencoded(s in any::<String>()) {
            let expected: String = form_urlencoded::byte_serialize(s.as_bytes()).collect();
            prop_assert_eq!(form(&s), expected);
        }

        #[test]
        fn form_body_round_trips(pairs in proptest::collection::vec((any::<String>(), any::<String>()), 0..6)) {
            let mut body = String::new();
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    body.push('&');
                }
                form_urlencode_into(&mut body, k);
                body.push('=');
                form_urlencode_into(&mut body, v);
            }
            let parsed: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            // Every pair has its `=`, so even ("", "") survives parsing.
            prop_assert_eq!(parsed, pairs);
        }

        #[test]
        fn component_round_trips(s in any::<String>()) {
            let encoded = component(&s);
            let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8();
            prop_assert_eq!(decoded.ok().map(|d| d.into_owned()), Some(s.clone()));
            let bytes = encoded.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' {
                    prop_assert!(bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)));
                    prop_assert!(bytes.get(i + 2).is_some_and(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)));
                    i += 3;
                } else {
                    prop_assert!(bytes[i].is_ascii_alphanumeric() || b"-_.!~*'()".contains(&bytes[i]), "unexpected byte {:?}", bytes[i]);
                    i += 1;
                }
            }
        }

        #[test]
        fn json_matches_serde_json(s in any::<String>()) {
            let body = json(&s);
            let quoted = format!("\"{body}\"");
            let back: Result<String, _> = serde_json::from_str(&quoted);
            prop_assert_eq!(back.ok(), Some(s.clone()));
            prop_assert_eq!(serde_json::to_string(&s).ok(), Some(quoted));
        }

        #[test]
        fn json_control_chars_match_serde_json(s in "[\\x00-\\x1f\"\\\\a\u{7f}\u{2028}]{0,16}") {
            prop_assert_eq!(serde_json::to_string(&s).ok(), Some(format!("\"{}\"", json(&s))));
        }

        #[test]
        fn header_safety_matches_definition(s in any::<String>()) {
            // Exactly what the HTTP client accepts as a header value.
            prop_assert_eq!(header_value_is_safe(&s), reqwest::header::HeaderValue::from_str(&s).is_ok());
        }

        #[test]
        fn numbers_round_trip(n in any::<f64>().prop_filter("finite", |n| n.is_finite())) {
            let text = number(n);
            prop_assert!(!text.ends_with(".0"));
            let back: f64 = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(back, if n == 0.0 { 0.0 } else { n });
            // Valid JSON number too.
            prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "{}", text);
        }

        #[test]
        fn integers_have_no_point(n in -(1i64 << 53) + 1..(1i64 << 53)) {
            prop_assert_eq!(number(n as f64), n.to_string());
        }
    }
}
