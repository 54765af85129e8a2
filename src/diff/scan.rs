//! An effect line read without serde, for the lines a dry run prints: one
//! JSON object of text values, `at` and `seconds` as whole numbers, the
//! headers as an object of text. `campaign diff` reads every changed line
//! of every contact, and serde's derived reader (a visitor per field, a
//! seed per value) was most of its time. Anything else (a `null`, a
//! repeated field, an escape it cannot check, a value of another kind)
//! gives `None`, and the caller reads the line with serde as before: the
//! result is the same either way, only the time differs.
//!
//! [`frame`] reads the same effect from a [`crate::frames`] frame, which a
//! dry run in the same process writes for `campaign diff`: no escapes, no
//! numbers as text, nothing to check but the shape.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::{Line, Pairs};
use crate::frames::{Item, Reader};

/// `raw` as an effect line, or `None` when serde must read it.
pub(super) fn line(raw: &[u8]) -> Option<Line<'_>> {
    // Checked once for the line rather than string by string: UTF-8 (so
    // that a string is a slice of `text`), and no control character (JSON
    // has none in a string, and a dry run writes no whitespace between
    // tokens).
    let text = std::str::from_utf8(raw).ok()?;
    if raw.iter().fold(false, |any, &b| any | (b < 0x20)) {
        return None;
    }
    let mut s = Scanner {
        text,
        bytes: raw,
        at: 0,
    };
    let mut line = Line::default();
    // The fields seen, by their bit: serde refuses a field given twice.
    let mut seen = 0u16;
    s.space();
    s.expect(b'{')?;
    s.space();
    if s.peek()? == b'}' {
        s.at += 1;
    } else {
        loop {
            let key = s.string()?;
            s.space();
            s.expect(b':')?;
            s.space();
            let bit = match &*key {
                "action" => 0,
                "step" => 1,
                "tag" => 2,
                "field" => 3,
                "goal" => 4,
                "code" => 5,
                "method" => 6,
                "url" => 7,
                "headers" => 8,
                "body" => 9,
                "value" => 10,
                "text" => 11,
                "seconds" => 12,
                "message" => 13,
                _ => 16,
            };
            if bit < 16 {
                if seen & (1 << bit) != 0 {
                    return None;
                }
                seen |= 1 << bit;
            }
            match bit {
                0 => line.action = s.string()?,
                1 => line.step = Some(s.string()?),
                2 => line.tag = Some(s.string()?),
                3 => line.field = Some(s.string()?),
                4 => line.goal = Some(s.string()?),
                5 => line.code = Some(s.string()?),
                6 => line.method = Some(s.string()?),
                7 => line.url = Some(s.string()?),
                8 => line.headers = s.headers()?,
                9 => line.body = Some(s.string()?),
                10 => line.value = Some(s.string()?),
                11 => line.text = Some(s.string()?),
                12 => {
                    let number = s.whole_number()?;
                    serde_json::from_slice::<&RawValue>(number).ok()?;
                    // Checked as a number, so ASCII: a slice of `text`.
                    line.seconds = Some(Cow::Borrowed(text.get(s.at - number.len()..s.at)?));
                }
                13 => line.message = Some(s.string()?),
                // Fields no comparison reads (`contact`, `at`): checked, not kept.
                _ => match s.peek()? {
                    b'"' => {
                        s.string()?;
                    }
                    _ => {
                        s.whole_number()?;
                    }
                },
            }
            s.space();
            match s.next()? {
                b',' => s.space(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.space();
    (s.at == raw.len()).then_some(line)
}

/// `raw`, a frame of one effect, as an effect line; `None` for a frame of
/// another shape (never written).
pub(super) fn frame(raw: &[u8]) -> Option<Line<'_>> {
    let mut r = Reader::text(raw)?;
    if r.next()? != Item::Map {
        return None;
    }
    let text = |item| match item {
        Item::Str(s) => Some(Cow::Borrowed(s)),
        _ => None,
    };
    let mut line = Line::default();
    loop {
        let key = match r.next()? {
            Item::End => break,
            Item::Str(key) => key,
            _ => return None,
        };
        let value = r.next()?;
        match key {
            "action" => line.action = text(value)?,
            "step" => line.step = Some(text(value)?),
            "tag" => line.tag = Some(text(value)?),
            "field" => line.field = Some(text(value)?),
            "goal" => line.goal = Some(text(value)?),
            "code" => line.code = Some(text(value)?),
            "method" => line.method = Some(text(value)?),
            "url" => line.url = Some(text(value)?),
            "body" => line.body = Some(text(value)?),
            "value" => line.value = Some(text(value)?),
            "text" => line.text = Some(text(value)?),
            "message" => line.message = Some(text(value)?),
            // As the NDJSON line writes the number.
            "seconds" => {
                line.seconds = Some(Cow::Owned(match value {
                    Item::U64(n) => n.to_string(),
                    Item::I64(n) => n.to_string(),
                    Item::F64(x) => serde_json::to_string(&x).ok()?,
                    _ => return None,
                }))
            }
            "headers" => {
                if value != Item::Map {
                    return None;
                }
                let mut headers: Pairs<'_> = Vec::new();
                loop {
                    match r.next()? {
                        Item::End => break,
                        Item::Str(name) => headers.push((Cow::Borrowed(name), text(r.next()?)?)),
                        _ => return None,
                    }
                }
                line.headers = headers;
            }
            _ => r.skip(value)?,
        }
    }
    r.at_end().then_some(line)
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    /// Skips JSON's whitespace.
    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// A JSON string, borrowed when it holds no escape; one with escapes
    /// is decoded by serde, which also checks them.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at;
        self.expect(b'"')?;
        let mut escaped = false;
        loop {
            let rest = &self.bytes[self.at..];
            // A loop, not memchr: most strings here are a few bytes long.
            let i = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
            if rest[i] == b'"' {
                let end = self.at + i;
                self.at = end + 1;
                return if escaped {
                    serde_json::from_slice::<String>(&self.bytes[start..self.at])
                        .ok()
                        .map(Cow::Owned)
                } else {
                    // Quotes are ASCII: both ends are character boundaries.
                    self.text.get(start + 1..end).map(Cow::Borrowed)
                };
            }
            escaped = true;
            // The backslash and the byte it escapes (a `\u` is checked by serde).
            self.at += i + 2;
            if self.at > self.bytes.len() {
                return None;
            }
        }
    }

    /// A whole number (`0`, `-12`, `172800`) as JSON writes it, raw.
    fn whole_number(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        let text = &self.bytes[digits..self.at];
        // No leading zero and no fraction or exponent: those are serde's.
        if text.is_empty() || (text.len() > 1 && text[0] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return None;
        }
        Some(&self.bytes[start..self.at])
    }

    /// An object of text values, in order.
    fn headers(&mut self) -> Option<Pairs<'a>> {
        let mut out = Vec::new();
        self.expect(b'{')?;
        self.space();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(out);
        }
        loop {
            let k = self.string()?;
            self.space();
            self.expect(b':')?;
            self.space();
            let v = self.string()?;
            out.push((k, v));
            self.space();
            match self.next()? {
                b',' => self.space(),
                b'}' => return Some(out),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line as serde reads it, field by field (the test's reference).
    fn by_serde(raw: &[u8]) -> Option<String> {
        serde_json::from_slice::<Line<'_>>(raw)
            .ok()
            .map(|l| format!("{l:?}"))
    }

    #[test]
    fn what_it_reads_serde_reads_the_same() {
        let lines: &[&[u8]] = &[
            br#"{"contact":"1","at":0,"step":"Create","action":"webhook","method":"POST","url":"https://x.example/a?b=1","headers":{"Content-Type":"application/x-www-form-urlencoded","Idempotency-Key":"msg_aa"},"body":"First_Name=Na%22me&Email=p1%40example.com"}"#,
            br#"{"contact":"2","at":172800,"action":"wait","seconds":172800}"#,
            br#"{"contact":"2","at":-5,"action":"note","text":"done \"really\" \u00e9 \\ \n"}"#,
            br#"{"contact":"Nguy\u1ec5n","at":0,"action":"tag_add","tag":"Hot"}"#,
            b"{\"contact\":\"3\",\"at\":0,\"action\":\"field_set\",\"field\":\"S\",\"value\":\"9\xc3\xa9\"}",
            br#"{"contact":"3","at":0,"action":"error","code":"E1","message":"m"}"#,
            br#" { "action" : "goal" , "goal" : "Bought" , "headers" : { } } "#,
            br#"{}"#,
            br#"{"act\u0069on":"goal","goal":"G"}"#,
        ];
        for raw in lines {
            let text = String::from_utf8_lossy(raw);
            let fast = line(raw).unwrap_or_else(|| panic!("not read: {text}"));
            assert_eq!(Some(format!("{fast:?}")), by_serde(raw), "{text}");
        }
    }

    #[test]
    fn what_it_leaves_is_left_to_serde() {
        let lines: &[&[u8]] = &[
            br#"{"action":"goal","action":"tag_add"}"#,
            br#"{"action":null}"#,
            br#"{"action":"wait","seconds":1.5}"#,
            br#"{"action":"wait","seconds":01}"#,
            br#"{"action":"note","at":[1,2],"text":"x"}"#,
            br#"{"action":"note","headers":{"A":1}}"#,
            br#"{"action":"note","text":"bad \x escape"}"#,
            b"{\"action\":\"note\",\"text\":\"tab\there\"}",
            b"{\"action\":\"note\",\"text\":\"\xff\"}",
            br#"{"action":"note"} trailing"#,
            br#"{"action":"note""#,
            br#"["note"]"#,
            br#"not json"#,
        ];
        for raw in lines {
            assert!(
                line(raw).is_none(),
                "read: {}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
