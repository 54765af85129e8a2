//! Where each merge of a `url` template lands, decided once, by the parser
//! that sends the request.
//!
//! A hand-written "where does the host end" scanner disagrees with a WHATWG
//! URL parser on spellings such as `http:///[Host]` (extra slashes and
//! backslashes of `http` and `https` are skipped, so the merge becomes the
//! host), `http:\\`, `http:/x` or a user name before `@`. So the checks, the
//! compiler, the VM and the sender all ask the `url` crate (the one reqwest
//! re-exports and sends with) through this module:
//!
//! - [`analyse`] parses the template with every merge replaced by a marker
//!   holding `|`, which no scheme, host or port may contain. A merge that
//!   lands before the path therefore either makes the parse fail or shows up
//!   in the user name, so the parser itself tells where each merge lands,
//!   and what of the path is literal text.
//! - [`UrlShape::check`] parses every merged URL again and demands the
//!   template's literal origin and path pieces before anything is sent.

use serde::{Deserialize, Serialize};
use url::{Position, Url};

use crate::syntax::ast::{Part, Template};

/// A piece of a URL template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text from the script.
    Text(&'a str),
    /// A merge; `raw` when it has `| raw` (inserted without encoding).
    Merge {
        /// Whether the merged text is inserted as is.
        raw: bool,
    },
}

/// A template's pieces, in order.
pub fn pieces(template: &Template) -> Vec<Piece<'_>> {
    if let Some(text) = template.text() {
        return vec![Piece::Text(text)];
    }
    template
        .listed()
        .iter()
        .map(|p| match p {
            Part::Text(t) => Piece::Text(&t.node),
            Part::Merge(m) => Piece::Merge {
                raw: m.filters().iter().any(|f| f.name.node == "raw"),
            },
        })
        .collect()
}

/// Where a merge before the path lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The scheme (`[S]://...`).
    Scheme,
    /// The user name or password (`https://[U]@host/`).
    Userinfo,
    /// The host.
    Host,
    /// The port.
    Port,
}

/// What the parser made of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Where each of the first merges lands, for those that land before the
    /// path; every later merge lands in the path, query or fragment.
    pub before_path: Vec<Component>,
    /// The scheme as parsed (lowercase).
    pub scheme: String,
    /// `scheme://user:pass@host:port` as the parser serializes it.
    origin: String,
    /// `scheme://user:pass@`: what is literal with `dynamic host`.
    before_host: String,
    /// The parsed path: literal pieces and where merges go.
    path: Vec<PathPiece>,
    /// Merges (by index) that alone make up the path's last segment.
    last_segment: Vec<u32>,
}

impl Layout {
    /// The host, with its port when it is not the scheme's default, as the
    /// sender reads them (no user name or password); `None` when a merge
    /// lands in the host or port (`dynamic host`).
    pub fn host(&self) -> Option<String> {
        if self
            .before_path
            .iter()
            .any(|c| matches!(c, Component::Host | Component::Port))
        {
            return None;
        }
        let url = Url::parse(&self.origin).ok()?;
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        })
    }

    /// What every merged URL of this template must keep. With
    /// `dynamic_host` the host and port may change; the scheme and user
    /// name never do.
    pub fn shape(&self, dynamic_host: bool) -> UrlShape {
        UrlShape {
            fixed: if dynamic_host {
                self.before_host.clone()
            } else {
                self.origin.clone()
            },
            dynamic_host,
            path: self.path.clone(),
            last_segment: self.last_segment.clone(),
        }
    }
}

/// Why no merged value could make a template a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The literal text cannot form a URL: the parser's reason.
    Invalid(url::ParseError),
    /// More than [`MAX_BEFORE_PATH`] merges land before the path.
    TooManyBeforePath,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Invalid(e) => write!(f, "{e}"),
            TemplateError::TooManyBeforePath => write!(
                f,
                "more than {MAX_BEFORE_PATH} merge fields before the path"
            ),
        }
    }
}

/// How many merges may land before the path (with `dynamic host`: one for
/// the host and one for the port is the usual case). Each one doubles the
/// placeholders tried.
pub const MAX_BEFORE_PATH: usize = 4;

/// A piece of a parsed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PathPiece {
    /// Literal text, as the parser serializes it.
    Text(String),
    /// Where a merge goes: any text without `/`, or any text at all when
    /// `raw` (a raw merge may add segments).
    Merge {
        /// Whether the merge has `| raw`.
        raw: bool,
    },
}

/// What a merged URL must keep of its template, checked after every merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlShape {
    /// The merged URL's serialization must start with exactly this: the
    /// literal origin `scheme://user:pass@host:port`, or with `dynamic host`
    /// `scheme://user:pass@`.
    pub fixed: String,
    /// Whether contact data chooses the host and port.
    pub dynamic_host: bool,
    /// The parsed path of the template.
    pub path: Vec<PathPiece>,
    /// Merges (by index among the URL's merges) that alone make up the
    /// path's last segment: if the parsed URL's last segment is empty while
    /// one of them merged text, that text was a `.` segment.
    pub last_segment: Vec<u32>,
}

/// Why a merged URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Not a URL after merging.
    Invalid(url::ParseError),
    /// The origin (or with `dynamic host`, the scheme or user name) differs
    /// from the template's.
    Origin {
        /// What the template fixes.
        expected: String,
        /// What the merged URL has.
        got: String,
    },
    /// `dynamic host` merged an empty host.
    NoHost,
    /// The path lost or moved literal pieces of the template (`.` and `..`
    /// segments formed by merged text, or a raw `?` or `#`).
    Path,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Invalid(e) => write!(f, "it is not a valid URL ({e})"),
            Violation::Origin { expected, got } => {
                write!(f, "it starts `{got}` where the template fixes `{expected}`")
            }
            Violation::NoHost => write!(f, "its host is empty"),
            Violation::Path => write!(f, "its path lost a fixed part of the template's path"),
        }
    }
}

impl UrlShape {
    /// Parses a merged URL and checks it; `merged_len(i)` is the length of
    /// the text merge `i` inserted, when known.
    pub fn check(
        &self,
        merged: &str,
        merged_len: Option<&dyn Fn(usize) -> usize>,
    ) -> Result<Url, Violation> {
        let url = Url::parse(merged).map_err(Violation::Invalid)?;
        self.check_parsed(&url, merged_len)?;
        Ok(url)
    }

    /// Checks a parsed URL: the literal origin, then the path.
    pub fn check_parsed(
        &self,
        url: &Url,
        merged_len: Option<&dyn Fn(usize) -> usize>,
    ) -> Result<(), Violation> {
        let head = if self.dynamic_host {
            &url[..Position::BeforeHost]
        } else {
            &url[..Position::BeforePath]
        };
        if head != self.fixed {
            return Err(Violation::Origin {
                expected: self.fixed.clone(),
                got: head.to_string(),
            });
        }
        if self.dynamic_host && url.host_str().is_none_or(str::is_empty) {
            return Err(Violation::NoHost);
        }
        let path = url.path();
        if !path_matches(path, &self.path) {
            return Err(Violation::Path);
        }
        if let Some(len) = merged_len {
            let last_is_empty = path.rsplit('/').next().is_some_and(str::is_empty);
            if last_is_empty && self.last_segment.iter().any(|&i| len(i as usize) > 0) {
                return Err(Violation::Path);
            }
        }
        Ok(())
    }
}

/// Whether `path` is the pattern's literal pieces, in order, with merges
/// between them (never a `/` for an encoded merge). One pass per piece over
/// the set of reachable positions, so time is linear in the path for a
/// given template.
fn path_matches(path: &str, pattern: &[PathPiece]) -> bool {
    if let Some(PathPiece::Text(first)) = pattern.first() {
        if !path.starts_with(first.as_str()) {
            return false;
        }
    }
    // The usual shapes, without allocating.
    match pattern {
        [PathPiece::Text(t)] => path == t,
        [PathPiece::Text(head), PathPiece::Merge { raw }] => one_merge(path, head, *raw, ""),
        [PathPiece::Text(head), PathPiece::Merge { raw }, PathPiece::Text(tail)] => {
            one_merge(path, head, *raw, tail)
        }
        _ => reachable(path, pattern),
    }
}

/// `path` is `head`, merged text (no `/` unless `raw`), then `tail`.
fn one_merge(path: &str, head: &str, raw: bool, tail: &str) -> bool {
    path.len() >= head.len() + tail.len()
        && path.starts_with(head)
        && path.ends_with(tail)
        && (raw || !path[head.len()..path.len() - tail.len()].contains('/'))
}

/// [`path_matches`] for any pattern: the set of positions reachable after
/// each piece.
fn reachable(path: &str, pattern: &[PathPiece]) -> bool {
    let bytes = path.as_bytes();
    let mut reach = vec![false; bytes.len() + 1];
    reach[0] = true;
    let mut next = vec![false; bytes.len() + 1];
    // Nothing before the first reachable position can become reachable.
    let mut first = 0;
    for piece in pattern {
        next.iter_mut().for_each(|r| *r = false);
        match piece {
            PathPiece::Text(t) => {
                for at in first..=bytes.len() {
                    if reach[at] && bytes[at..].starts_with(t.as_bytes()) {
                        next[at + t.len()] = true;
                    }
                }
            }
            PathPiece::Merge { raw } => {
                let mut on = false;
                for at in first..=bytes.len() {
                    on |= reach[at];
                    next[at] = on;
                    if !raw && bytes.get(at) == Some(&b'/') {
                        on = false;
                    }
                }
            }
        }
        std::mem::swap(&mut reach, &mut next);
        match reach[first..].iter().position(|&r| r) {
            Some(at) => first += at,
            None => return false,
        }
    }
    reach[bytes.len()]
}

/// The placeholders one analysis uses. `tag` occurs nowhere in the
/// template's literal text (nor its percent-decoded form), so finding it in
/// a parsed URL means a placeholder landed there.
struct Markers {
    tag: String,
    merges: usize,
    raw: Vec<bool>,
    digits: std::cell::OnceCell<Vec<u32>>,
    literal: String,
}

impl Markers {
    fn new(pieces: &[Piece<'_>]) -> Markers {
        let mut literal = String::new();
        let mut raw = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => literal.push_str(t),
                Piece::Merge { raw: r } => raw.push(*r),
            }
        }
        // `q` then more `z`s than any run of z-like characters (a non-ASCII
        // one may map to `z` in a host): the tag cannot come from literal text.
        let decoded = percent_encoding::percent_decode_str(&literal).decode_utf8_lossy();
        let run = longest_run(&literal).max(longest_run(&decoded));
        drop(decoded);
        let mut tag = String::from("q");
        tag.extend(std::iter::repeat_n('z', run + 1));
        Markers {
            tag,
            merges: raw.len(),
            raw,
            digits: std::cell::OnceCell::new(),
            literal,
        }
    }

    /// Number `i` for a merge tried in a port: five digits found nowhere
    /// in the literal text (worked out only when a merge may be in a port).
    fn number(&self, i: usize) -> u32 {
        let digits = self.digits.get_or_init(|| {
            let decoded = percent_encoding::percent_decode_str(&self.literal).decode_utf8_lossy();
            let taken: std::collections::HashSet<&[u8]> = self
                .literal
                .as_bytes()
                .windows(5)
                .chain(decoded.as_bytes().windows(5))
                .collect();
            (10_000u32..=65_535)
                .filter(|n| !taken.contains(n.to_string().as_bytes()))
                .take(MAX_BEFORE_PATH)
                .collect()
        });
        // Past 65,535 no port parses: the merge is then simply not a port.
        digits.get(i).copied().unwrap_or(70_000)
    }

    /// Placeholder `i` that a host or scheme accepts.
    fn word(&self, i: usize) -> String {
        format!("{}{i}z", self.tag)
    }

    /// The template with merges below `k` replaced by a number (bit `i` of
    /// `numbers` set) or a word, and the others by `|word|`.
    fn probe(&self, pieces: &[Piece<'_>], k: usize, numbers: u32) -> String {
        let mut out = String::new();
        let mut i = 0;
        for piece in pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Merge { .. } => {
                    if i < k && is_number(numbers, i) {
                        out.push_str(&self.number(i).to_string());
                    } else if i < k {
                        out.push_str(&self.word(i));
                    } else {
                        out.push('|');
                        out.push_str(&self.word(i));
                        out.push('|');
                    }
                    i += 1;
                }
            }
        }
        out
    }

    /// Indices of the placeholders found in `text`, in order, with where
    /// each `|word|` starts and ends (when it is barred).
    fn find(&self, text: &str) -> Vec<(usize, std::ops::Range<usize>)> {
        let mut found = Vec::new();
        let mut from = 0;
        while let Some(at) = text[from..].find(&self.tag).map(|i| i + from) {
            let after = &text[at + self.tag.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let index = after[..digits].parse::<usize>().ok();
            match index {
                Some(i) if after[digits..].starts_with('z') && i < self.merges => {
                    let end = at + self.tag.len() + digits + 1;
                    let barred = at > 0
                        && text.as_bytes()[at - 1] == b'|'
                        && text.as_bytes().get(end) == Some(&b'|');
                    let range = if barred { at - 1..end + 1 } else { at..end };
                    found.push((i, range));
                    from = end;
                }
                _ => from = at + 1,
            }
        }
        found
    }
}

/// Whether merge `i` is tried as a number.
fn is_number(numbers: u32, i: usize) -> bool {
    i < 32 && (numbers >> i) & 1 == 1
}

/// The longest run of `z`, `Z` or non-ASCII characters.
fn longest_run(text: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == 'z' || c == 'Z' || !c.is_ascii() {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// Asks the URL parser where each merge of a template lands.
///
/// Tries `k = 0, 1, ...` merges before the path: those get placeholders a
/// host accepts (a word, or a number for a port), the rest `|word|`, and the
/// first parse that succeeds with no `|word|` before the path decides. A
/// `|word|` after the path cannot change what comes before it: the parser
/// reads left to right and never returns to the host once in the path.
pub fn analyse(pieces: &[Piece<'_>]) -> Result<Layout, TemplateError> {
    let markers = Markers::new(pieces);
    let mut first_error = None;
    for k in 0..=markers.merges.min(MAX_BEFORE_PATH) {
        for mask in 0..1u32 << k {
            let probe = markers.probe(pieces, k, mask);
            match Url::parse(&probe) {
                Ok(url) => {
                    let head = &url[..Position::BeforePath];
                    if markers.find(head).iter().all(|(i, _)| *i < k) {
                        return Ok(layout(&markers, &url, k, mask));
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    // More merges before the path than tried, if words everywhere parse.
    let all_words = markers.probe(pieces, markers.merges, 0);
    if markers.merges > MAX_BEFORE_PATH
        && Url::parse(&all_words)
            .is_ok_and(|u| !markers.find(&u[..Position::BeforePath]).is_empty())
    {
        return Err(TemplateError::TooManyBeforePath);
    }
    Err(TemplateError::Invalid(
        first_error.unwrap_or(url::ParseError::RelativeUrlWithoutBase),
    ))
}

fn layout(markers: &Markers, url: &Url, k: usize, mask: u32) -> Layout {
    let before_path = (0..k)
        .map(|i| {
            let number = is_number(mask, i);
            let placeholder = if number {
                markers.number(i).to_string()
            } else {
                markers.word(i)
            };
            if url.scheme().contains(&placeholder) {
                Component::Scheme
            } else if url.username().contains(&placeholder)
                || url.password().is_some_and(|p| p.contains(&placeholder))
            {
                Component::Userinfo
            } else if number && url.port().map(u32::from) == Some(markers.number(i)) {
                Component::Port
            } else {
                Component::Host
            }
        })
        .collect();
    let path_text = url.path();
    let mut path = Vec::new();
    let mut at = 0;
    let mut merges_in_last = Vec::new();
    let mut last_has_text = false;
    for (i, range) in markers.find(path_text) {
        if range.end - range.start != markers.word(i).len() + 2 {
            continue; // a word, not a `|word|`: cannot be in the path
        }
        let text = &path_text[at..range.start];
        if !text.is_empty() {
            if let Some(slash) = text.rfind('/') {
                merges_in_last.clear();
                last_has_text = slash + 1 < text.len();
            } else {
                last_has_text = true;
            }
            path.push(PathPiece::Text(text.to_string()));
        }
        // Merges with no text between them match what one merge matches
        // (raw if either is): one piece keeps the path check linear in the
        // number of literal pieces, not of merges.
        match path.last_mut() {
            Some(PathPiece::Merge { raw }) if text.is_empty() => *raw |= markers.raw[i],
            _ => path.push(PathPiece::Merge {
                raw: markers.raw[i],
            }),
        }
        merges_in_last.push(i as u32);
        at = range.end;
    }
    let rest = &path_text[at..];
    if !rest.is_empty() {
        if let Some(slash) = rest.rfind('/') {
            merges_in_last.clear();
            last_has_text = slash + 1 < rest.len();
        } else {
            last_has_text = true;
        }
        path.push(PathPiece::Text(rest.to_string()));
    }
    let only_encoded = merges_in_last.iter().all(|&i| !markers.raw[i as usize]);
    let last_segment = if last_has_text || !only_encoded {
        Vec::new()
    } else {
        merges_in_last
    };
    Layout {
        before_path,
        scheme: url.scheme().to_string(),
        origin: url[..Position::BeforePath].to_string(),
        before_host: url[..Position::BeforeHost].to_string(),
        path,
        last_segment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(template: &str) -> Vec<Piece<'_>> {
        let mut out = Vec::new();
        for (i, text) in template.split('{').enumerate() {
            let text = if i == 0 {
                text
            } else {
                let (merge, rest) = text.split_once('}').unwrap();
                out.push(Piece::Merge {
                    raw: merge == "raw",
                });
                rest
            };
            if !text.is_empty() {
                out.push(Piece::Text(text));
            }
        }
        out
    }

    fn before_path(template: &str) -> Vec<Component> {
        analyse(&split(template)).unwrap().before_path
    }

    #[test]
    fn the_host_is_the_parsers_without_credentials_or_a_default_port() {
        let host = |t: &str| analyse(&split(t)).unwrap().host();
        assert_eq!(
            host("https://user:pw@API.Example.com:443/x/{}").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(
            host("http://127.0.0.1:8080/{}").as_deref(),
            Some("127.0.0.1:8080")
        );
        // A scanner that stops at the first `/` or `@` reads these wrong.
        assert_eq!(host("https:\\\\a.example\\b").as_deref(), Some("a.example"));
        assert_eq!(
            host("https://a.example@b.example/@c").as_deref(),
            Some("b.example")
        );
        assert_eq!(host("https://{}.example.com/"), None);
        assert_eq!(host("https://example.com:{}/"), None);
    }

    /// Found by fuzzing `url_origin`: 800 adjacent raw merges made 800 path
    /// pieces, and each contact's path check cost pieces x path length.
    /// Adjacent merges are one piece, so the pattern grows with the
    /// template's literal text only.
    #[test]
    fn adjacent_merges_are_one_path_piece() {
        let template = format!(
            "https://h.example/a/{}/b{}{{raw}}c",
            "{}".repeat(800),
            "{}".repeat(5)
        );
        let analysis = analyse(&split(&template)).unwrap();
        let shape = analysis.shape(false);
        assert_eq!(
            shape.path,
            [
                PathPiece::Text("/a/".into()),
                PathPiece::Merge { raw: false },
                PathPiece::Text("/b".into()),
                PathPiece::Merge { raw: true },
                PathPiece::Text("c".into()),
            ]
        );
        let merged = format!("https://h.example/a/{}/bx/y/zc", "v".repeat(10_000));
        let url = Url::parse(&merged).unwrap();
        assert!(shape.check_parsed(&url, None).is_ok());
        let url = Url::parse("https://h.example/a/v/w/bx/y/zc").unwrap();
        assert!(shape.check_parsed(&url, None).is_err());
    }

    #[test]
    fn merges_after_the_host_land_in_the_path() {
        for t in [
            "https://h.example/{}",
            "https://h.example/a/{}?q={}#{}",
            "https://h.example?q={}",
            "https://h.example#{}",
            "http:\\\\h.example\\{}",
            "https://u:p@h.example:8443/{}",
        ] {
            assert_eq!(before_path(t), Vec::<Component>::new(), "{t}");
        }
    }

    #[test]
    fn merges_the_parser_reads_as_host_are_found_however_spelled() {
        use Component::*;
        for (t, expected) in [
            ("https://{}/x", vec![Host]),
            ("http:///{}", vec![Host]),
            ("http:////\\{}/x", vec![Host]),
            ("http:/{}", vec![Host]),
            ("http:{}", vec![Host]),
            ("http:\\\\{}", vec![Host]),
            ("https://h.{}/x", vec![Host]),
            ("https://{}@h/x", vec![Userinfo]),
            ("https://u:{}@h/x", vec![Userinfo]),
            ("https://h:{}/x", vec![Port]),
            ("https://{}:{}/x", vec![Host, Port]),
            ("{}://h/x", vec![Scheme]),
            ("ht{}tp://h/x", vec![Scheme]),
        ] {
            assert_eq!(before_path(t), expected, "{t}");
        }
    }

    #[test]
    fn literal_text_that_looks_like_a_placeholder_changes_nothing() {
        let layout = analyse(&split("https://qz0z.qzz0z.example/qzzz0z|/{}")).unwrap();
        assert!(layout.before_path.is_empty());
        assert_eq!(layout.origin, "https://qz0z.qzz0z.example");
        assert_eq!(
            layout.path,
            vec![
                PathPiece::Text("/qzzz0z|/".into()),
                PathPiece::Merge { raw: false }
            ]
        );
    }

    #[test]
    fn invalid_literal_text_is_reported_with_the_parsers_reason() {
        assert_eq!(
            analyse(&split("https://exa%mple.com/{}")),
            Err(TemplateError::Invalid(url::ParseError::IdnaError))
        );
        assert_eq!(
            analyse(&split("crm.example.com/{}")),
            Err(TemplateError::Invalid(
                url::ParseError::RelativeUrlWithoutBase
            ))
        );
        assert_eq!(
            analyse(&split("https://{}{}{}{}{}.example/")),
            Err(TemplateError::TooManyBeforePath)
        );
    }

    fn shape(template: &str) -> UrlShape {
        analyse(&split(template)).unwrap().shape(false)
    }

    #[test]
    fn the_path_keeps_its_literal_pieces() {
        let s = shape("https://h/api/{}/notes/{raw}/x?q={}");
        let ok = |u: &str| s.check(u, None).is_ok();
        assert!(ok("https://h/api/1/notes/a/b/x?q=.."));
        assert!(ok("https://h/api//notes//x"));
        assert!(!ok("https://h/api/../notes/a/x"), "`..` removes `api`");
        assert!(!ok("https://h/api/./notes/a/x"), "`.` removes a segment");
        assert!(!ok("https://h/api/1/notes/a/../../x"));
        assert!(!ok("https://h/api/1/notes/a\\..\\..\\x"));
        assert!(!ok("https://h/api/1/notes/.\t./x"));
        assert!(!ok("https://h/api/1/notes/a?/x"), "a raw `?` ends the path");
        assert!(!ok("https://evil/api/1/notes/a/x"));
        assert!(!ok("https://h:444/api/1/notes/a/x"));
        assert!(!ok("https://u@h/api/1/notes/a/x"));
    }

    #[test]
    fn a_trailing_dot_segment_is_told_from_an_empty_value() {
        let s = shape("https://h/p/{}");
        assert_eq!(s.last_segment, vec![0]);
        let len = |n: usize| move |_: usize| n;
        assert!(s.check("https://h/p/", Some(&len(0))).is_ok());
        assert_eq!(
            s.check("https://h/p/.", Some(&len(1))),
            Err(Violation::Path)
        );
        assert_eq!(
            s.check("https://h/p/%2e", Some(&len(3))),
            Err(Violation::Path)
        );
        assert!(s.check("https://h/p/x", Some(&len(1))).is_ok());
        assert_eq!(shape("https://h/p/x{}").last_segment, Vec::<u32>::new());
        assert_eq!(shape("https://h/p/{raw}").last_segment, Vec::<u32>::new());
        assert_eq!(shape("https://h/{}/p").last_segment, Vec::<u32>::new());
    }

    #[test]
    fn dynamic_hosts_keep_the_scheme_and_user_name() {
        let s = analyse(&split("https://{}/x/{}")).unwrap().shape(true);
        assert!(s.check("https://a.example:8443/x/1", None).is_ok());
        assert!(matches!(
            s.check("http://a.example/x/1", None),
            Err(Violation::Origin { .. })
        ));
        assert!(matches!(
            s.check("https://u@a.example/x/1", None),
            Err(Violation::Origin { .. })
        ));
        assert_eq!(s.check("https://a.example/y/1", None), Err(Violation::Path));
    }

    proptest::proptest! {
        #[test]
        fn the_quick_matches_agree_with_the_general_one(
            path in "[/ab]{0,8}",
            pieces in proptest::collection::vec(("[/ab]{0,3}", proptest::option::of(proptest::bool::ANY)), 1..3),
        ) {
            let mut pattern = Vec::new();
            for (text, merge) in pieces {
                pattern.push(PathPiece::Text(text));
                if let Some(raw) = merge {
                    pattern.push(PathPiece::Merge { raw });
                }
            }
            proptest::prop_assert_eq!(path_matches(&path, &pattern), reachable(&path, &pattern));
        }
    }

    #[test]
    fn path_matching() {
        use PathPiece::*;
        let t = |s: &str| Text(s.to_string());
        let enc = Merge { raw: false };
        let raw = Merge { raw: true };
        assert!(path_matches("/a", &[t("/a")]));
        assert!(!path_matches("/a/", &[t("/a")]));
        assert!(path_matches("/a/b", &[t("/a/"), enc.clone()]));
        assert!(!path_matches("/a/b/c", &[t("/a/"), enc.clone()]));
        assert!(path_matches("/a/b/c", &[t("/a/"), raw.clone()]));
        assert!(path_matches(
            "/a/x/b/y",
            &[t("/a/"), enc.clone(), t("/b/"), enc.clone()]
        ));
        assert!(!path_matches(
            "/a/b/y",
            &[t("/a/"), enc.clone(), t("/b/"), enc]
        ));
        assert!(path_matches("/a/b/c/d", &[t("/a/"), raw.clone(), t("/d")]));
        assert!(!path_matches("/a/d", &[t("/a/"), raw, t("/d")]));
    }
}
