//! A contact's tags: in the order they came, with adds, removes and lookups
//! that cost the same for the first tag and the 100,000th.

use std::collections::HashMap;

/// Up to this many tags, a scan beats hashing; past it, an index is kept.
const LINEAR: usize = 16;

#[cfg(test)]
thread_local! {
    /// Tags looked at: comparisons, index lookups, entries moved.
    static PROBES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts work for the tests that prove it grows linearly; nothing outside tests.
#[inline]
fn probe(_n: usize) {
    #[cfg(test)]
    PROBES.with(|p| p.set(p.get() + _n));
}

/// The tags of one contact, in order, without duplicates or empty names.
#[derive(Debug, Clone, Default)]
pub struct Tags {
    /// In order. Once indexed, a removed tag leaves an empty string here
    /// (tags are never empty) until there are more of those than tags.
    list: Vec<String>,
    /// Tags in `list` that are not removed.
    live: usize,
    /// Where each tag is in `list`; kept once `list` outgrew [`LINEAR`].
    index: Option<HashMap<String, usize>>,
}

impl Tags {
    /// Replaces the tags with `tags` (trimmed, non-empty, distinct, as the
    /// contacts reader gives them), reusing the buffers.
    pub fn reset_from(&mut self, tags: &[String]) {
        self.list.truncate(tags.len());
        for (i, tag) in tags.iter().enumerate() {
            match self.list.get_mut(i) {
                Some(buf) => buf.clone_from(tag),
                None => self.list.push(tag.clone()),
            }
        }
        self.live = self.list.len();
        self.index = None;
        self.build_index_if_long();
    }

    /// The tags `tags` (trimmed, non-empty, distinct), taking the list.
    pub fn from_list(tags: Vec<String>) -> Tags {
        let mut out = Tags {
            live: tags.len(),
            list: tags,
            index: None,
        };
        out.build_index_if_long();
        out
    }

    /// Replaces the tags with `tags`, which may hold duplicates.
    pub fn reset_to<'t>(&mut self, tags: impl IntoIterator<Item = &'t str>) {
        self.list.clear();
        self.live = 0;
        self.index = None;
        for tag in tags {
            self.insert(tag);
        }
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when there is no tag.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The tags in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.list
            .iter()
            .map(String::as_str)
            .filter(|t| !t.is_empty())
    }

    /// The tags joined by `,`, as `[Tags]` merges them.
    pub fn joined(&self) -> String {
        let mut out = String::new();
        for (i, tag) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(tag);
        }
        out
    }

    fn position(&self, tag: &str) -> Option<usize> {
        if tag.is_empty() {
            return None;
        }
        match &self.index {
            Some(index) => {
                probe(1);
                index.get(tag).copied()
            }
            None => self.list.iter().position(|t| {
                probe(1);
                t == tag
            }),
        }
    }

    /// Whether the contact has `tag` (compared exactly).
    pub fn contains(&self, tag: &str) -> bool {
        self.position(tag).is_some()
    }

    /// Adds `tag` at the end unless it is there (or empty); true if added.
    pub fn insert(&mut self, tag: &str) -> bool {
        if tag.is_empty() || self.contains(tag) {
            return false;
        }
        if let Some(index) = &mut self.index {
            index.insert(tag.to_string(), self.list.len());
        }
        self.list.push(tag.to_string());
        self.live += 1;
        self.build_index_if_long();
        true
    }

    /// Removes `tag`; true if it was there.
    pub fn remove(&mut self, tag: &str) -> bool {
        let Some(at) = self.position(tag) else {
            return false;
        };
        self.live -= 1;
        let Some(index) = &mut self.index else {
            self.list.remove(at);
            return true;
        };
        index.remove(tag);
        self.list[at].clear();
        // Compacting once the holes outnumber the tags keeps both the list
        // and the time per removal bounded.
        let holes = self.list.len() - self.live;
        if holes > self.live.max(LINEAR) {
            probe(self.list.len());
            self.list.retain(|t| !t.is_empty());
            self.index = None;
            self.build_index_if_long();
        }
        true
    }

    fn build_index_if_long(&mut self) {
        if self.index.is_none() && self.list.len() > LINEAR {
            let index = self
                .list
                .iter()
                .enumerate()
                .filter(|(_, t)| !t.is_empty())
                .map(|(i, t)| (t.clone(), i))
                .collect();
            self.index = Some(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8),
        Remove(u8),
        Reset(Vec<u8>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..60).prop_map(Op::Add),
            3 => (0u8..60).prop_map(Op::Remove),
            1 => proptest::collection::vec(0u8..60, 0..40).prop_map(Op::Reset),
        ]
    }

    /// Work for `n` adds, `n` lookups and `n` removes (front first, the
    /// worst order for a list): counted, not timed, so a loaded machine
    /// cannot make it flaky. 8x the tags must cost about 8x, not 64x.
    #[test]
    fn work_grows_linearly() {
        let work = |n: usize| {
            PROBES.with(|p| p.set(0));
            let mut tags = Tags::default();
            let names: Vec<String> = (0..n).map(|i| format!("tag {i}")).collect();
            for name in &names {
                tags.insert(name);
            }
            for name in &names {
                assert!(tags.contains(name));
            }
            for name in &names {
                tags.remove(name);
            }
            assert!(tags.is_empty());
            PROBES.with(|p| p.get())
        };
        let (small, large) = (work(2_000), work(16_000));
        assert!(
            large <= 10 * small,
            "2,000 tags: {small} probes; 16,000: {large}"
        );
    }

    proptest! {
        /// Against a plain ordered list: the same tags in the same order
        /// after any sequence of adds, removes and resets, small or large.
        #[test]
        fn behaves_like_an_ordered_list(ops in proptest::collection::vec(op(), 0..400)) {
            let name = |n: u8| format!("t{n}");
            let mut tags = Tags::default();
            let mut model: Vec<String> = Vec::new();
            for op in ops {
                match op {
                    Op::Add(n) => {
                        let added = tags.insert(&name(n));
                        prop_assert_eq!(added, !model.contains(&name(n)));
                        if added {
                            model.push(name(n));
                        }
                    }
                    Op::Remove(n) => {
                        let at = model.iter().position(|t| *t == name(n));
                        prop_assert_eq!(tags.remove(&name(n)), at.is_some());
                        if let Some(at) = at {
                            model.remove(at);
                        }
                    }
                    Op::Reset(ns) => {
                        model.clear();
                        for n in ns {
                            if !model.contains(&name(n)) {
                                model.push(name(n));
                            }
                        }
                        tags.reset_from(&model);
                    }
                }
                prop_assert_eq!(tags.iter().collect::<Vec<_>>(), model.iter().map(String::as_str).collect::<Vec<_>>());
                prop_assert_eq!(tags.len(), model.len());
                prop_assert!(tags.list.len() <= 2 * model.len() + LINEAR + 1);
                for n in 0..60 {
                    prop_assert_eq!(tags.contains(&name(n)), model.contains(&name(n)));
                }
            }
            prop_assert!(!tags.contains(""));
        }
    }
}
