//! A file is parsed in pieces: the head, up to 64 top-level items at a time,
//! then the closing brace (see `campaign_head` in the grammar). pest's token
//! queue then holds one piece instead of the whole file, which keeps a large
//! file's parse in cache. What is done with each piece's items is up to a
//! [`Collect`]or: today [`Items`] keeps them all (the AST); a stage that
//! needs only one piece at a time can drop them as they come. A large body
//! is also cut at seams and its stretches parsed on as many threads as the
//! machine has.

use super::ast::{Campaign, ShortString, Step, Trigger};
use super::parser::Builder;
use crate::span::{Span, Spanned};

/// Top-level triggers and steps, in source order.
#[derive(Debug, Default)]
pub struct Items {
    /// `trigger` lines.
    pub triggers: Vec<Spanned<Trigger>>,
    /// Top-level steps.
    pub steps: Vec<Step>,
}

/// What a parse does with the top-level items as it builds them.
///
/// Each stretch of the file has a collector of its own (on its own thread
/// when the file is large); it takes that stretch's pieces in order, and the
/// collectors of all stretches are then joined in file order.
pub trait Collect: Send + Sized {
    /// Takes one piece's items, in order; whatever it leaves in `items` is
    /// dropped.
    fn take(&mut self, items: &mut Items);
    /// Called when the collector's stretch is parsed, on its thread.
    fn finish(&mut self) {}
    /// The collectors of consecutive stretches as one, in file order.
    fn join(stretches: Vec<Self>) -> Self;
}

/// The whole tree.
impl Collect for Items {
    fn take(&mut self, items: &mut Items) {
        self.triggers.append(&mut items.triggers);
        self.steps.append(&mut items.steps);
    }

    fn finish(&mut self) {
        // Giving back the spare room here keeps it out of the peak while
        // the stretches are joined.
        self.steps.shrink_to_fit();
    }

    fn join(stretches: Vec<Items>) -> Items {
        // The steps are most of the tree: the first stretch's list grows to
        // hold them all at once, and each other stretch's is given back as
        // it is moved in.
        let total = stretches.iter().map(|s| s.steps.len()).sum::<usize>();
        let mut all = Items::default();
        for items in stretches {
            all.triggers.extend(items.triggers);
            if all.steps.is_empty() {
                all.steps = items.steps;
                all.steps.reserve_exact(total - all.steps.len());
            } else {
                append_freeing(&mut all.steps, items.steps);
            }
        }
        all
    }
}

/// Appends `from` to `to`, giving `from`'s memory back a sixteenth at a
/// time: moved in one go, both lists would be whole at once at the end of
/// a parse, which is when the tree is largest (a large list is its own
/// mapping, so a shrink returns its pages). Reversed first, so that each
/// sixteenth is taken from the end.
fn append_freeing<T>(to: &mut Vec<T>, mut from: Vec<T>) {
    const SMALL: usize = 1 << 16;
    if from.len() < SMALL {
        to.append(&mut from);
        return;
    }
    let chunk = from.len() / 16;
    from.reverse();
    while !from.is_empty() {
        let rest = from.len().saturating_sub(chunk);
        to.extend(from.drain(rest..).rev());
        from.shrink_to_fit();
    }
}

/// A campaign whose items went to a collector.
#[derive(Debug)]
pub struct Parsed<C> {
    /// The campaign's name.
    pub name: Spanned<ShortString>,
    /// What the collector made of the items.
    pub items: C,
    /// The whole `campaign "..." { }` block.
    pub span: Span,
}

impl Parsed<Items> {
    /// The tree.
    pub fn into_campaign(self) -> Campaign {
        Campaign {
            name: self.name,
            triggers: self.items.triggers,
            steps: self.items.steps,
            span: self.span,
        }
    }
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

/// Parses the campaign in `source`, its body cut at `seams` into stretches
/// parsed in parallel, each stretch's items going to a collector from
/// `new`. `None` when the syntax is wrong; the whole-file rule then says
/// where.
pub(super) fn campaign<C: Collect>(
    builder: &mut Builder,
    source: &str,
    seams: &[usize],
    new: &(impl Fn() -> C + Sync),
) -> Option<Parsed<C>> {
    campaign_cut(builder, source, new, |start| {
        cuts(seams, start, source.len(), parallelism())
    })
}

/// [`campaign`], with the body cut where `cut` says given where the body
/// starts.
fn campaign_cut<C: Collect>(
    builder: &mut Builder,
    source: &str,
    new: &(impl Fn() -> C + Sync),
    cut: impl FnOnce(usize) -> Vec<usize>,
) -> Option<Parsed<C>> {
    let (keyword, name) = builder.head(source)?;
    let items = match items_in_parallel(builder, source, &cut(builder.offset), new) {
        Some(items) => items,
        None => {
            let mut items = new();
            builder.items(source, source.len(), &mut items)?;
            items.finish();
            items
        }
    };
    let close = builder.close(source)?;
    Some(Parsed {
        name,
        items,
        span: keyword.to(close),
    })
}

/// The items between `cuts` (the first is the builder's offset, the last
/// the end of the source), each stretch on its own thread, into one
/// collector. `None` when a cut is not provably a seam; the caller then
/// parses in one pass. Proof: every inner cut is at a line start (so not
/// inside a string or comment), the stretch before it ends in whole items
/// and then only whitespace or comments, and the stretch after it starts
/// with an item. A step's first word never continues the step before it
/// (only `else`, `and`, `or`, `is` and comparisons do), so one pass would
/// have cut the items at the same place.
fn items_in_parallel<C: Collect>(
    builder: &mut Builder,
    source: &str,
    cuts: &[usize],
    new: &(impl Fn() -> C + Sync),
) -> Option<C> {
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
    let start = builder.clone_at(0);
    let stretches: Vec<Option<(Builder, C)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = cuts
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let (from, end) = (w[0], w[1]);
                let last = i == cuts.len() - 2;
                let start = &start;
                let parse = move || {
                    let mut builder = start.clone_at(from);
                    let mut items = new();
                    let count = builder.items(source, end, &mut items)?;
                    items.finish();
                    let starts_clean = i == 0 || count > 0;
                    let ends_clean = last || builder.only_trivia(&source[builder.offset..end]);
                    (starts_clean && ends_clean).then_some((builder, items))
                };
                // The first stretch is this thread's; `parse` is Copy, so a
                // thread that does not start is parsed here too.
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
    let stretches: Vec<(Builder, C)> = stretches.into_iter().collect::<Option<_>>()?;
    let mut collectors = Vec::with_capacity(stretches.len());
    for (stretch, items) in stretches {
        builder.errors.extend(stretch.errors);
        if let (Some(all), Some(leaves)) = (&mut builder.leaves, stretch.leaves) {
            all.extend(leaves);
        }
        builder.offset = stretch.offset;
        collectors.push(items);
    }
    Some(C::join(collectors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::depth;
    use crate::syntax::parser::{head_end, whole_file_span};

    fn pieces(text: &str) -> Option<Span> {
        campaign(&mut Builder::for_test(0), text, &[], &Items::default).map(|c| c.span)
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
        let mut builder = Builder::for_test(0);
        let campaign =
            campaign_cut(&mut builder, text, &Items::default, cut).map(Parsed::into_campaign);
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
                assert_eq!(whole_file_span(prefix), pieces(prefix), "prefix:\n{prefix}");
                if let Some(c) = source[cut..].chars().next() {
                    let removed = format!("{prefix}{}", &source[cut + c.len_utf8()..]);
                    let expected = whole_file_span(&removed);
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
                if let Some(start) = head_end(&source).filter(|&start| cut > start) {
                    let mut builder = Builder::for_test(start);
                    let cuts = [start, cut, source.len()];
                    parallel += usize::from(
                        items_in_parallel(&mut builder, &source, &cuts, &Items::default).is_some(),
                    );
                }
            }
        }
        // Some cuts must have been taken, or only the fallback was tested.
        assert!(parallel > 50, "only {parallel} cuts parsed in parallel");
    }

    #[test]
    fn appending_in_sixteenths_keeps_the_order() {
        for (first, second) in [(3, 10), (1000, 70_000), (0, 200_003)] {
            let mut to: Vec<usize> = (0..first).collect();
            append_freeing(&mut to, (first..first + second).collect());
            assert!(
                to.iter().copied().eq(0..first + second),
                "{first} + {second}"
            );
        }
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
        let mut builder = Builder::for_test(15);
        let items = items_in_parallel(&mut builder, &source, &cuts, &Items::default).unwrap();
        assert_eq!(items.steps.len(), 5000);
    }
}
