//! What a change to a campaign does to its requests: two dry runs' effects
//! for one contact, compared effect by effect and, for a request, part by
//! part (method, URL, each header, each body field of a form or JSON body).
//! `campaign diff` and `campaign test` report with it.
//!
//! Effects are matched by what they are (a webhook by its step's name, a
//! tag by its name, a field set by its field, a goal by its name...), in
//! order, as a longest common subsequence; what is left over was added or
//! removed. Differences that only the clock or the campaign's text make are
//! left out unless asked for: the `at` of an effect (a change to a wait
//! shows as the wait's change), idempotency keys (`Idempotency-Key` and
//! `webhook-id`: a dry run derives them from the campaign's text) and
//! `webhook-timestamp`.

mod scan;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::frames::{self, Frame};

/// What to compare.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also report differences in idempotency keys.
    pub keys: bool,
}

/// One difference in one contact's effects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `added`, `removed` or `changed`.
    pub kind: &'static str,
    /// What changed, for people and for grouping: `webhook "Create CRM
    /// contact" body field "Email"`.
    pub what: String,
    /// The value before (changed, removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value after (changed, added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

impl Change {
    /// The line that groups contacts in a summary: `webhook "X" body field
    /// "Email" changed`.
    pub fn group(&self) -> String {
        format!("{} {}", self.what, self.kind)
    }
}

use crate::request::KEY_HEADERS;
/// Header names whose values come from the clock.
const CLOCK_HEADERS: [&str; 1] = ["webhook-timestamp"];

/// A contact's dry-run output (NDJSON lines) as effects; a line that is not
/// a JSON object (which a dry run never prints) is kept as text.
pub fn parse(lines: &[u8]) -> Vec<Value> {
    lines
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(l).into_owned()))
        })
        .collect()
}

/// Whether two contacts' outputs are the same once keys are set aside: the
/// fast path that spares parsing when nothing changed. No allocation, one
/// pass: the two are compared up to their first difference, and if that
/// falls in the value of a key header, both values are skipped and the
/// comparison goes on after them.
pub fn same_output(old: &[u8], new: &[u8], options: Options) -> bool {
    if old == new {
        return true;
    }
    if options.keys {
        return false;
    }
    let (mut a, mut b) = (old, new);
    loop {
        let same = common_prefix(a, b);
        if same == a.len() && same == b.len() {
            return true;
        }
        match key_value_at(&a[..same]) {
            // A key is `msg_` and hex: it holds no quote or backslash.
            Some(start) => {
                a = skip_value(&a[start..]);
                b = skip_value(&b[start..]);
            }
            None => return false,
        }
    }
}

/// How many bytes `a` and `b` share at their start.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 16;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + CHUNK <= n && a[i..i + CHUNK] == b[i..i + CHUNK] {
        i += CHUNK;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// If `before` (text up to a difference) ends inside the value of a key
/// header, where that value starts (just past its opening quote).
fn key_value_at(before: &[u8]) -> Option<usize> {
    let quote = memchr::memrchr(b'"', before)?;
    let opened = &before[..=quote];
    KEY_HEADERS
        .iter()
        .any(|h| {
            opened.len() > h.len() + 4
                && opened.ends_with(b"\":\"")
                && opened[..opened.len() - 3].ends_with(h.as_bytes())
                && opened[opened.len() - 4 - h.len()] == b'"'
        })
        .then_some(quote + 1)
}

/// `bytes` from the quote that closes the value it starts in.
fn skip_value(bytes: &[u8]) -> &[u8] {
    &bytes[memchr::memchr(b'"', bytes).unwrap_or(bytes.len())..]
}

/// One contact's changes: lines that are the same at the start and the
/// end (keys set aside) are not parsed; the rest are compared effect by
/// effect.
pub fn compare_output(old: &[u8], new: &[u8], options: Options) -> Vec<Change> {
    fn lines(b: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', b) {
            if end > start {
                out.push(&b[start..end]);
            }
            start = end + 1;
        }
        if start < b.len() {
            out.push(&b[start..]);
        }
        out
    }
    compare_effects(
        &lines(old),
        &lines(new),
        options,
        |x, y| same_output(x, y, options),
        |l| Line::parse(l),
    )
}

/// [`compare_output`] for a dry run written as frames
/// ([`crate::run::dry_run::OutputFormat::Frames`]).
pub fn compare_frames(old: &[u8], new: &[u8], options: Options) -> Vec<Change> {
    if old == new {
        return Vec::new();
    }
    // A contact's few frames listed on the stack, not in a new list.
    let (mut stack_a, mut stack_b) = ([Frame::default(); FEW], [Frame::default(); FEW]);
    let (listed_a, listed_b);
    let a = match few_frames(old, &mut stack_a) {
        Some(n) => &stack_a[..n],
        None => {
            listed_a = frames::split(old).collect::<Vec<_>>();
            &listed_a[..]
        }
    };
    let b = match few_frames(new, &mut stack_b) {
        Some(n) => &stack_b[..n],
        None => {
            listed_b = frames::split(new).collect::<Vec<_>>();
            &listed_b[..]
        }
    };
    compare_effects(
        a,
        b,
        options,
        |x, y| same_frame(x, y, options),
        |f| Line::from_frame(f.value),
    )
}

/// How many frames [`few_frames`] lists on the stack.
const FEW: usize = 8;

/// `bytes`' frames into `stack`, and how many there are; `None` when there
/// are more than it holds.
fn few_frames<'a>(bytes: &'a [u8], stack: &mut [Frame<'a>; FEW]) -> Option<usize> {
    let mut n = 0;
    for f in frames::split(bytes) {
        *stack.get_mut(n)? = f;
        n += 1;
    }
    Some(n)
}

/// Whether two effects' frames hold the same, but for the values of key
/// headers (unless `options.keys`), which the dry run marked
/// ([`frames::write_marking`]): the bytes between the marked values are
/// compared, the values skipped. [`same_output`] for one frame.
fn same_frame(a: &Frame<'_>, b: &Frame<'_>, options: Options) -> bool {
    if a.value == b.value {
        return true;
    }
    if options.keys {
        return false;
    }
    let (mut marks_a, mut marks_b) = (a.marks(), b.marks());
    let (mut at_a, mut at_b) = (0, 0);
    loop {
        match (marks_a.next(), marks_b.next()) {
            (None, None) => return a.value.get(at_a..) == b.value.get(at_b..),
            (Some(mark_a), Some(mark_b)) => {
                let (Some(before_a), Some(before_b)) =
                    (a.value.get(at_a..mark_a), b.value.get(at_b..mark_b))
                else {
                    return false;
                };
                match (
                    frames::text_end(a.value, mark_a),
                    frames::text_end(b.value, mark_b),
                ) {
                    (Some(end_a), Some(end_b)) if before_a == before_b => {
                        (at_a, at_b) = (end_a, end_b);
                    }
                    _ => return false,
                }
            }
            _ => return false,
        }
    }
}

/// The changes between two contacts' effects, each side a list of raw
/// effects (lines or frames): effects the same at the start and the end
/// are not read; the rest are read with `read` and compared.
fn compare_effects<'a, E>(
    a: &[E],
    b: &[E],
    options: Options,
    same: impl Fn(&E, &E) -> bool,
    read: impl Fn(&E) -> Line<'a>,
) -> Vec<Change> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| same(x, y)).count();
    if prefix == a.len() && prefix == b.len() {
        return Vec::new();
    }
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| same(x, y))
        .count();
    let (a, b) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    // Most often one effect each is left: read without a list.
    if let ([x], [y]) = (a, b) {
        return compare(
            std::slice::from_ref(&read(x)),
            std::slice::from_ref(&read(y)),
            options,
        );
    }
    let read_all = |effects: &[E]| effects.iter().map(&read).collect::<Vec<_>>();
    compare(&read_all(a), &read_all(b), options)
}

/// One effect line, parsed without copying its text (a dry run's strings
/// rarely hold escapes): the keys a comparison reads. `raw` is the line.
#[derive(Debug, Default, Deserialize)]
struct Line<'a> {
    #[serde(skip)]
    raw: &'a [u8],
    /// `raw` is a frame, not a JSON line.
    #[serde(skip)]
    framed: bool,
    #[serde(borrow, default)]
    action: Cow<'a, str>,
    #[serde(borrow, default)]
    step: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tag: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    field: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    goal: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "pairs")]
    headers: Pairs<'a>,
    #[serde(borrow, default)]
    body: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    value: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    /// A number, as JSON writes it.
    #[serde(borrow, default, deserialize_with = "number_text")]
    seconds: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

/// A value's JSON text, kept as written: a number compares as it prints.
fn number_text<'de, D>(d: D) -> Result<Option<Cow<'de, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw = <&serde_json::value::RawValue>::deserialize(d)?;
    // As an `Option` reads it: `null` is no value.
    Ok((raw.get() != "null").then_some(Cow::Borrowed(raw.get())))
}

/// Text that borrows from the line unless it holds escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// Header names and values, in order.
type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// A JSON object of text values as pairs, in order, without a map.
fn pairs<'de, D>(d: D) -> Result<Pairs<'de>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct PairsVisitor;
    impl<'de> serde::de::Visitor<'de> for PairsVisitor {
        type Value = Pairs<'de>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of text values")
        }

        fn visit_map<M: serde::de::MapAccess<'de>>(
            self,
            mut map: M,
        ) -> Result<Self::Value, M::Error> {
            let mut out = Vec::new();
            while let Some((Text(k), Text(v))) = map.next_entry::<Text<'de>, Text<'de>>()? {
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_map(PairsVisitor)
}

impl<'a> Line<'a> {
    /// `raw` parsed; a line that is not an effect (which a dry run never
    /// prints) compares as its text.
    fn parse(raw: &'a [u8]) -> Line<'a> {
        let mut line = scan::line(raw).unwrap_or_else(|| Line::parse_with_serde(raw));
        line.raw = raw;
        line
    }

    /// A frame read; one no writer made (never seen) compares as its JSON.
    fn from_frame(raw: &'a [u8]) -> Line<'a> {
        let mut line = scan::frame(raw).unwrap_or_else(|| Line {
            text: Some(Cow::Owned(
                frames::to_json(raw).map_or_else(|| "(unreadable)".to_string(), |v| v.to_string()),
            )),
            ..Line::default()
        });
        line.raw = raw;
        line.framed = true;
        line
    }

    /// `raw` parsed by serde: the lines [`scan::line`] leaves.
    fn parse_with_serde(raw: &'a [u8]) -> Line<'a> {
        serde_json::from_slice(raw).unwrap_or_else(|_| Line {
            text: Some(String::from_utf8_lossy(raw).into_owned().into()),
            ..Line::default()
        })
    }

    /// What the effect is, for matching the two sides.
    fn identity(&self) -> (&str, &str) {
        let name = match &*self.action {
            "webhook" => &self.step,
            "tag_add" | "tag_remove" => &self.tag,
            "field_set" => &self.field,
            "goal" => &self.goal,
            "error" => &self.code,
            _ => &None,
        };
        (&self.action, name.as_deref().unwrap_or(""))
    }

    /// How the effect is named in a change: `webhook "Create CRM contact"`.
    fn label(&self) -> String {
        let (action, name) = self.identity();
        match action {
            "webhook" => quoted(&["webhook "], name),
            "tag_add" => quoted(&["tag add "], name),
            "tag_remove" => quoted(&["tag remove "], name),
            "field_set" => quoted(&["field set "], name),
            "goal" => quoted(&["goal "], name),
            "error" => format!("failure {name}"),
            "" => "effect".to_string(),
            other => other.replace('_', " "),
        }
    }

    /// The effect as one line of text, for an added or removed effect:
    /// the line without `contact` and `at`.
    fn summary(&self) -> String {
        let value = if self.framed {
            frames::to_json(self.raw).ok_or(())
        } else {
            serde_json::from_slice::<Value>(self.raw).map_err(|_| ())
        };
        match value {
            Ok(Value::Object(mut map)) => {
                map.remove("contact");
                map.remove("at");
                Value::Object(map).to_string()
            }
            _ => String::from_utf8_lossy(self.raw).into_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }
}

/// `prefix`'s pieces, then `text` quoted as `{:?}` quotes it: pushed, not
/// formatted, as a wide change names a field for every contact.
fn quoted(prefix: &[&str], text: &str) -> String {
    let length = prefix.iter().map(|p| p.len()).sum::<usize>() + text.len() + 2;
    let mut out = String::with_capacity(length);
    for p in prefix {
        out.push_str(p);
    }
    let plain = text
        .bytes()
        .all(|b| (b.is_ascii_graphic() || b == b' ') && b != b'"' && b != b'\\');
    if plain {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        let _ = write!(out, "{text:?}");
    }
    out
}

/// The differences between one contact's effects before and after.
fn compare(old: &[Line<'_>], new: &[Line<'_>], options: Options) -> Vec<Change> {
    let mut changes = Vec::new();
    // The same effects, one for one (most often one each): compared in
    // turn, as the walk below would, without its tables.
    if old.len() == new.len()
        && old
            .iter()
            .zip(new)
            .all(|(x, y)| x.identity() == y.identity())
    {
        for (x, y) in old.iter().zip(new) {
            details(x, y, options, &mut changes);
        }
        return changes;
    }
    let a: Vec<_> = old.iter().map(Line::identity).collect();
    let b: Vec<_> = new.iter().map(Line::identity).collect();
    // Longest common subsequence of identities: contacts have few effects.
    let width = b.len() + 1;
    let mut lcs = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * width + j] = if a[i] == b[j] {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            details(&old[i], &new[j], options, &mut changes);
            i += 1;
            j += 1;
        } else if j < b.len()
            && (i == a.len() || lcs[i * width + j + 1] >= lcs[(i + 1) * width + j])
        {
            changes.push(Change {
                kind: "added",
                what: new[j].label(),
                old: None,
                new: Some(new[j].summary()),
            });
            j += 1;
        } else {
            changes.push(Change {
                kind: "removed",
                what: old[i].label(),
                old: Some(old[i].summary()),
                new: None,
            });
            i += 1;
        }
    }
    changes
}

fn changed(
    out: &mut Vec<Change>,
    what: impl FnOnce() -> String,
    old: Option<&str>,
    new: Option<&str>,
) {
    changed_text(out, what, old.map(Cow::Borrowed), new.map(Cow::Borrowed));
}

/// [`changed`] for values that may be owned already (a decoded form
/// field), which the change takes rather than copies.
fn changed_text(
    out: &mut Vec<Change>,
    what: impl FnOnce() -> String,
    old: Option<Cow<'_, str>>,
    new: Option<Cow<'_, str>>,
) {
    let kind = match (&old, &new) {
        (None, None) => return,
        (Some(a), Some(b)) if a == b => return,
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
        _ => "changed",
    };
    out.push(Change {
        kind,
        what: what(),
        old: old.map(Cow::into_owned),
        new: new.map(Cow::into_owned),
    });
}

/// Differences between two effects of the same identity.
fn details(old: &Line<'_>, new: &Line<'_>, options: Options, out: &mut Vec<Change>) {
    // Named only when something changed.
    let label = std::cell::OnceCell::new();
    let name = || label.get_or_init(|| old.label()).as_str();
    if old.action != "webhook" {
        changed(
            out,
            || format!("{} value", name()),
            old.value.as_deref(),
            new.value.as_deref(),
        );
        changed(
            out,
            || name().to_owned(),
            old.text.as_deref(),
            new.text.as_deref(),
        );
        changed(
            out,
            || format!("{} seconds", name()),
            old.seconds.as_deref(),
            new.seconds.as_deref(),
        );
        changed(
            out,
            || format!("{} message", name()),
            old.message.as_deref(),
            new.message.as_deref(),
        );
        return;
    }
    changed(
        out,
        || format!("{} method", name()),
        old.method.as_deref(),
        new.method.as_deref(),
    );
    changed(
        out,
        || format!("{} url", name()),
        old.url.as_deref(),
        new.url.as_deref(),
    );
    // Most often the same names in the same order, the values the same
    // but for those set aside: nothing to report, nothing to sort.
    let skipped = |h: &str| {
        (!options.keys && KEY_HEADERS.iter().any(|k| k.eq_ignore_ascii_case(h)))
            || CLOCK_HEADERS.iter().any(|k| k.eq_ignore_ascii_case(h))
    };
    let same_headers = old.headers.len() == new.headers.len()
        && old
            .headers
            .iter()
            .zip(&new.headers)
            .all(|((ka, va), (kb, vb))| ka == kb && (va == vb || skipped(ka)));
    let mut names: Vec<&str> = Vec::new();
    if !same_headers {
        names = old
            .headers
            .iter()
            .chain(&new.headers)
            .map(|(k, _)| &**k)
            .collect();
        names.sort_unstable();
        names.dedup();
    }
    for h in names {
        if !skipped(h) {
            changed(
                out,
                || quoted(&[name(), " header "], h),
                old.header(h),
                new.header(h),
            );
        }
    }
    let (ba, bb) = (old.body.as_deref(), new.body.as_deref());
    if ba == bb {
        return;
    }
    let ta = old.header("content-type").unwrap_or("");
    let tb = new.header("content-type").unwrap_or("");
    match (
        fields_of(ba.unwrap_or(""), ta),
        fields_of(bb.unwrap_or(""), tb),
    ) {
        (Some(fa), Some(fb)) if ta.eq_ignore_ascii_case(tb) => {
            // Both sorted by name, each name once: walked together.
            let (mut i, mut j) = (0, 0);
            while i < fa.len() || j < fb.len() {
                let order = match (fa.get(i), fb.get(j)) {
                    (Some(x), Some(y)) => x.0.cmp(&y.0),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    _ => std::cmp::Ordering::Greater,
                };
                let (k, a, b) = match order {
                    std::cmp::Ordering::Less => (&fa[i].0, Some(&fa[i].1), None),
                    std::cmp::Ordering::Greater => (&fb[j].0, None, Some(&fb[j].1)),
                    std::cmp::Ordering::Equal => (&fa[i].0, Some(&fa[i].1), Some(&fb[j].1)),
                };
                i += usize::from(order.is_le());
                j += usize::from(order.is_ge());
                if let (Some(FieldValue::Encoded(x)), Some(FieldValue::Encoded(y))) = (a, b) {
                    if x == y {
                        continue;
                    }
                }
                changed_text(
                    out,
                    || quoted(&[name(), " body field "], k),
                    a.map(FieldValue::text),
                    b.map(FieldValue::text),
                );
            }
        }
        _ => changed(out, || format!("{} body", name()), ba, bb),
    }
}

/// A body's fields by name and value.
type Fields<'a> = Vec<(Cow<'a, str>, FieldValue<'a>)>;

/// A field's value: a form's as written, decoded only when it is compared
/// with another written differently, or shown; a JSON leaf's as text.
enum FieldValue<'a> {
    Encoded(&'a str),
    Text(String),
}

impl FieldValue<'_> {
    fn text(&self) -> Cow<'_, str> {
        match self {
            FieldValue::Encoded(raw) => form_decode(raw),
            FieldValue::Text(text) => Cow::Borrowed(text),
        }
    }
}

/// Whether `text` starts with `prefix` (lower case), in any case.
fn starts_with_lower(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// A body's fields by its content type, sorted by name: a form's decoded
/// fields, a JSON body's leaves by path; `None` for other bodies.
fn fields_of<'a>(body: &'a str, content_type: &str) -> Option<Fields<'a>> {
    if starts_with_lower(content_type, "application/x-www-form-urlencoded") {
        Some(sorted_form_fields(body))
    } else if starts_with_lower(content_type, "application/json") {
        serde_json::from_str::<Value>(body).ok().map(|v| {
            let mut flat = BTreeMap::new();
            flatten(&v, String::new(), &mut flat);
            flat.into_iter()
                .map(|(k, v)| (Cow::Owned(k), FieldValue::Text(v)))
                .collect()
        })
    } else {
        None
    }
}

/// A webhook effect's body as fields: a form's decoded fields, or a JSON
/// body's leaves by path (`name`, `tags[0]`); `None` for other bodies.
pub fn body_fields(effect: &Value) -> Option<BTreeMap<String, String>> {
    let headers = effect.get("headers").and_then(Value::as_object)?;
    let kind = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = effect.get("body").and_then(Value::as_str).unwrap_or("");
    if kind.starts_with("application/x-www-form-urlencoded") {
        Some(form_fields(body))
    } else if kind.starts_with("application/json") {
        let v = serde_json::from_str::<Value>(body).ok()?;
        let mut flat = BTreeMap::new();
        flatten(&v, String::new(), &mut flat);
        // Text leaves without their JSON quotes: what a user writes.
        Some(
            flat.into_iter()
                .map(|(k, v)| match serde_json::from_str::<Value>(&v) {
                    Ok(Value::String(s)) => (k, s),
                    _ => (k, v),
                })
                .collect(),
        )
    } else {
        None
    }
}

/// A form body's fields, decoded; a name given twice gets `[n]` from its
/// second time on.
fn form_fields(body: &str) -> BTreeMap<String, String> {
    sorted_form_fields(body)
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.text().into_owned()))
        .collect()
}

/// [`form_fields`] as a sorted list whose values are decoded when needed:
/// the same names and values, without a map or a copy per field. Split as
/// `form_urlencoded::parse` splits: at each `&` (empty pieces skipped),
/// then at the first `=`.
fn sorted_form_fields(body: &str) -> Fields<'_> {
    let mut fields = form_pieces(body);
    // Stable, so that of two fields with one name, the later comes last.
    fields.sort_by(|x, y| x.0.cmp(&y.0));
    if fields.windows(2).all(|w| w[0].0 != w[1].0) {
        return fields;
    }
    // A name given twice (rare): `[n]` from its second time on, counted in
    // order (from the end, so that the names counted are not renamed yet).
    let mut fields = form_pieces(body);
    for i in (1..fields.len()).rev() {
        let n = fields[..i]
            .iter()
            .filter(|(k, _)| *k == fields[i].0)
            .count();
        if n > 0 {
            fields[i].0 = Cow::Owned(format!("{}[{n}]", fields[i].0));
        }
    }
    // Of two fields with one name still (`a[1]` written out and a second
    // `a`), the later wins, as in a map: kept in its first's place.
    fields.sort_by(|x, y| x.0.cmp(&y.0));
    fields.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
    fields
}

/// A form body's fields in order, their names decoded: split at each `&`
/// (empty pieces skipped), then at the first `=`.
fn form_pieces(body: &str) -> Fields<'_> {
    let bytes = body.as_bytes();
    let mut fields: Fields<'_> =
        Vec::with_capacity(bytes.iter().filter(|&&b| b == b'&').count() + 1);
    let mut start = 0;
    for end in memchr::memchr_iter(b'&', bytes).chain([bytes.len()]) {
        // Both ends next to `&` or the body's ends: characters' boundaries.
        let piece = &body[start..end];
        start = end + 1;
        if piece.is_empty() {
            continue;
        }
        let (name, value) = match memchr::memchr(b'=', piece.as_bytes()) {
            Some(at) => (&piece[..at], &piece[at + 1..]),
            None => (piece, ""),
        };
        fields.push((form_decode(name), FieldValue::Encoded(value)));
    }
    fields
}

/// A form's name or value decoded as `form_urlencoded` decodes it: `+` is
/// a space, `%` and two hex digits a byte, bytes that are not UTF-8 become
/// U+FFFD. Borrowed when there is nothing to decode.
fn form_decode(text: &str) -> Cow<'_, str> {
    // Names and values are short: a loop, not a search.
    if !text.bytes().any(|b| b == b'+' || b == b'%') {
        return Cow::Borrowed(text);
    }
    let hex = |b: u8| (b as char).to_digit(16);
    let text = text.as_bytes();
    let mut bytes = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let b = match text[i] {
            b'+' => b' ',
            b'%' => match (
                text.get(i + 1).and_then(|&h| hex(h)),
                text.get(i + 2).and_then(|&l| hex(l)),
            ) {
                (Some(h), Some(l)) => {
                    i += 2;
                    (h * 16 + l) as u8
                }
                _ => b'%',
            },
            b => b,
        };
        bytes.push(b);
        i += 1;
    }
    match String::from_utf8(bytes) {
        Ok(text) => Cow::Owned(text),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// A JSON value's leaves by path: `name`, `tags[0]`, `address.city`.
fn flatten(v: &Value, path: String, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(v, p, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, format!("{path}[{i}]"), out);
            }
        }
        leaf => {
            out.insert(path, leaf.to_string());
        }
    }
}

/// `old` and `new` split around what differs: (common prefix, old's
/// middle, new's middle, common suffix), at character boundaries. The
/// middle is what a report highlights.
pub fn split_change<'a>(old: &'a str, new: &'a str) -> (&'a str, &'a str, &'a str, &'a str) {
    let prefix = old
        .char_indices()
        .zip(new.chars())
        .find(|((_, a), b)| a != b)
        .map_or(old.len().min(new.len()), |((i, _), _)| i);
    let prefix = floor_char(old, prefix.min(new.len()));
    let (ra, rb) = (&old[prefix..], &new[prefix..]);
    let suffix = ra
        .chars()
        .rev()
        .zip(rb.chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum::<usize>();
    (
        &old[..prefix],
        &ra[..ra.len() - suffix],
        &rb[..rb.len() - suffix],
        &ra[ra.len() - suffix..],
    )
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(step: &str, body: &str, ct: &str) -> Value {
        json!({"contact": "1", "at": 0, "step": step, "action": "webhook", "method": "POST",
               "url": "https://x.example/a", "headers": {"Content-Type": ct, "Idempotency-Key": format!("msg_{step}")},
               "body": body})
    }

    /// `compare` over effects written as NDJSON, as a dry run prints them,
    /// and as frames, as `campaign diff`'s dry runs hand them over: both
    /// must find the same changes, and agree on whether the effects are
    /// the same.
    fn compare_values(old: &[Value], new: &[Value], options: Options) -> Vec<Change> {
        let lines = |v: &[Value]| v.iter().map(|e| format!("{e}\n")).collect::<String>();
        let framed = |v: &[Value]| {
            let mut out = Vec::new();
            for e in v {
                frames::write_marking(&mut out, e, &KEY_HEADERS).unwrap();
            }
            out
        };
        let (lines_old, lines_new) = (lines(old), lines(new));
        let (frames_old, frames_new) = (framed(old), framed(new));
        let by_lines = compare_output(lines_old.as_bytes(), lines_new.as_bytes(), options);
        let by_frames = compare_frames(&frames_old, &frames_new, options);
        assert_eq!(by_lines, by_frames, "lines and frames disagree");
        let same = same_output(lines_old.as_bytes(), lines_new.as_bytes(), options);
        let (fa, fb): (Vec<_>, Vec<_>) = (
            frames::split(&frames_old).collect(),
            frames::split(&frames_new).collect(),
        );
        let same_frames =
            fa.len() == fb.len() && fa.iter().zip(&fb).all(|(x, y)| same_frame(x, y, options));
        assert_eq!(same, same_frames);
        // Same output, no changes (not the converse: `at`, a contact's id
        // and an error's place are not compared).
        assert!(!same || by_lines.is_empty(), "{by_lines:?}");
        by_lines
    }

    #[test]
    fn quoted_quotes_as_debug_does() {
        for text in [
            "Email",
            "a b",
            "",
            "say \"hi\"",
            "back\\slash",
            "tab\t",
            "Nguyễn",
            "\u{202e}x",
            "\u{7f}",
        ] {
            assert_eq!(quoted(&["x ", "y "], text), format!("x y {text:?}"));
        }
    }

    /// Lines and frames find the same changes for every pair of effects
    /// that differ in one place (keys, a header, the body, a number, an
    /// effect more or less), with keys set aside and not.
    #[test]
    fn frames_and_lines_find_the_same_changes() {
        let form = "application/x-www-form-urlencoded";
        let base = vec![
            hook("Create", "a=1&Email=x%40y", form),
            json!({"contact": "1", "at": 0, "action": "wait", "seconds": 172800}),
            hook("Sync", r#"{"name":"Ada"}"#, "application/json"),
            json!({"contact": "1", "at": 1.5, "action": "error", "code": "campaign::run::url", "message": "m", "line": 3, "column": 7}),
        ];
        let mut variants = Vec::new();
        let mut edit = |f: &dyn Fn(&mut Vec<Value>)| {
            let mut v = base.clone();
            f(&mut v);
            variants.push(v);
        };
        edit(&|v| v[0]["headers"]["Idempotency-Key"] = json!("msg_other_and_longer"));
        edit(&|v| v[2]["headers"]["webhook-id"] = json!("msg_x"));
        edit(&|v| v[0]["headers"]["X-Extra"] = json!("1"));
        edit(&|v| v[0]["headers"]["Content-Type"] = json!("text/plain"));
        edit(&|v| v[0]["body"] = json!("a=2&Email=x%40y"));
        edit(&|v| v[1]["seconds"] = json!(1.5));
        edit(&|v| v[3]["line"] = json!(4));
        edit(&|v| v[3]["message"] = json!("other"));
        edit(&|v| v[0]["contact"] = json!("2"));
        edit(&|v| {
            v.remove(1);
        });
        edit(&|v| v.push(json!({"contact": "1", "at": 0, "action": "tag_add", "tag": "Hot"})));
        edit(&|v| {
            v[0]["headers"]["Idempotency-Key"] = json!("msg_k");
            v[2]["body"] = json!(r#"{"name":"Bo"}"#);
        });
        for new in &variants {
            for keys in [false, true] {
                compare_values(&base, new, Options { keys });
                compare_values(new, &base, Options { keys });
            }
        }
    }

    #[test]
    fn a_form_field_change_is_named_and_keys_are_set_aside() {
        let old = vec![hook(
            "Create",
            "a=1&Email=x%40y",
            "application/x-www-form-urlencoded",
        )];
        let new = vec![hook(
            "Create",
            "a=1&Email=z%40y",
            "application/x-www-form-urlencoded",
        )];
        let mut new_key = new.clone();
        new_key[0]["headers"]["Idempotency-Key"] = json!("msg_other");
        let changes = compare_values(&old, &new_key, Options::default());
        assert_eq!(
            changes,
            vec![Change {
                kind: "changed",
                what: "webhook \"Create\" body field \"Email\"".into(),
                old: Some("x@y".into()),
                new: Some("z@y".into()),
            }]
        );
        let with_keys = compare_values(&old, &new_key, Options { keys: true });
        assert!(with_keys.iter().any(|c| c.what.contains("Idempotency-Key")));
    }

    #[test]
    fn json_bodies_compare_by_path_and_steps_added_or_removed_are_whole() {
        let old = vec![
            hook(
                "Sync",
                r#"{"name":"Ada","tags":["a","b"]}"#,
                "application/json",
            ),
            json!({"contact": "1", "at": 0, "action": "tag_add", "tag": "Hot"}),
        ];
        let new = vec![hook(
            "Sync",
            r#"{"name":"Ada","tags":["a","c"]}"#,
            "application/json",
        )];
        let changes = compare_values(&old, &new, Options::default());
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].what, "webhook \"Sync\" body field \"tags[1]\"");
        assert_eq!(changes[1].kind, "removed");
        assert_eq!(changes[1].what, "tag add \"Hot\"");
    }

    #[test]
    fn same_output_ignores_only_key_values() {
        let a = br#"{"headers":{"Idempotency-Key":"msg_aa","webhook-id":"msg_aa"},"body":"x"}"#;
        let b = br#"{"headers":{"Idempotency-Key":"msg_bb","webhook-id":"msg_bb"},"body":"x"}"#;
        let c = br#"{"headers":{"Idempotency-Key":"msg_bb","webhook-id":"msg_bb"},"body":"y"}"#;
        assert!(same_output(a, b, Options::default()));
        assert!(!same_output(a, b, Options { keys: true }));
        assert!(!same_output(a, c, Options::default()));
    }

    #[test]
    fn trimming_equal_lines_changes_no_result() {
        let line = |v: &Value| format!("{v}\n");
        let a = [
            json!({"contact":"1","at":0,"action":"tag_add","tag":"A"}),
            hook("Create", "Email=x", "application/x-www-form-urlencoded"),
            json!({"contact":"1","at":0,"action":"note","text":"n"}),
        ];
        let mut b = a.clone();
        b[1] = hook("Create", "Email=y", "application/x-www-form-urlencoded");
        b[1]["headers"]["Idempotency-Key"] = json!("msg_other");
        let (old, new): (String, String) =
            (a.iter().map(line).collect(), b.iter().map(line).collect());
        let trimmed = compare_output(old.as_bytes(), new.as_bytes(), Options::default());
        // Every line parsed, nothing trimmed:
        let all = |text: &'static str| -> Vec<Line<'static>> {
            text.lines().map(|l| Line::parse(l.as_bytes())).collect()
        };
        let (old, new): (&'static str, &'static str) = (old.leak(), new.leak());
        assert_eq!(
            trimmed,
            super::compare(&all(old), &all(new), Options::default())
        );
        assert_eq!(trimmed.len(), 1);
    }

    #[test]
    fn form_fields_name_repeats_as_a_map_of_them_would() {
        // The reference: every field into a map, a repeat as `name[n]`.
        fn by_map(body: &str) -> BTreeMap<String, String> {
            let mut out = BTreeMap::new();
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for (k, v) in form_urlencoded::parse(body.as_bytes()) {
                let n = seen.entry(k.to_string()).or_insert(0);
                let key = if *n == 0 {
                    k.to_string()
                } else {
                    format!("{k}[{n}]")
                };
                *n += 1;
                out.insert(key, v.into_owned());
            }
            out
        }
        for body in [
            "",
            "a=1",
            "b=2&a=1&c=%40+x",
            "a=1&a=2&a=3&b=4&a=5",
            "a[1]=x&a=1&a=2",
            "a=1&a=2&a%5B1%5D=3&a=4",
            "=&=&x",
            "a=b=c&&&d=%zz%4&e=%C3%A9+%2B&f=%FF%C3&%41=%41&A=1",
            "k+%20=v&k%20+=w",
        ] {
            let sorted: Vec<(String, String)> = sorted_form_fields(body)
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.text().into_owned()))
                .collect();
            assert_eq!(
                sorted,
                by_map(body).into_iter().collect::<Vec<_>>(),
                "{body}"
            );
        }
    }

    #[test]
    fn same_output_skips_keys_of_another_length_and_nothing_else() {
        let a = br#"{"headers":{"webhook-id":"msg_a","Idempotency-Key":"msg_aaaa"},"body":"x"}"#;
        let b = br#"{"headers":{"webhook-id":"msg_bbbbbb","Idempotency-Key":"msg_b"},"body":"x"}"#;
        assert!(same_output(a, b, Options::default()));
        // A difference in a value that only ends like a key header's.
        let c = br#"{"headers":{"X-Idempotency-Key":"msg_a"}}"#;
        let d = br#"{"headers":{"X-Idempotency-Key":"msg_b"}}"#;
        assert!(!same_output(c, d, Options::default()));
        let e = br#"{"body":"\"webhook-id\":\"1"}"#;
        let f = br#"{"body":"\"webhook-id\":\"2"}"#;
        assert!(!same_output(e, f, Options::default()));
    }

    #[test]
    fn the_changed_middle_is_found_at_character_boundaries() {
        assert_eq!(
            split_change("abcXdef", "abcYYdef"),
            ("abc", "X", "YY", "def")
        );
        assert_eq!(split_change("é1", "é2"), ("é", "1", "2", ""));
        assert_eq!(split_change("same", "same"), ("same", "", "", ""));
    }
}
