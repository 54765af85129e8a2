//! Ids already seen, to refuse a repeated one.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

/// Record numbers are kept in the low 40 bits of an id's entry; larger ones
/// (a trillion records) saturate here and read as "an earlier record".
pub(super) const ROW_BITS: u32 = 40;
pub(super) const ROW_MAX: u64 = (1 << ROW_BITS) - 1;
/// Parts the id table is split into, so that growing one part at a time
/// never holds two copies of the whole table.
pub(super) const ID_SHARDS: usize = 256;

/// The ids met so far, to refuse a repeated one.
///
/// Most files number their contacts: ids that are integers, each larger
/// than the one before (a CRM export sorted by id, or records without a
/// `Contact ID`, whose id is their record number). Those are kept as runs of
/// consecutive integers: 24 bytes per gap in the numbering, none per id,
/// and no hashing. Every other id goes into a hash table as one `u128`: an
/// 88-bit keyed hash of the id and the 40-bit record number that first had
/// it (8 more hash bits choose the shard). Two distinct ids share all 96
/// bits with probability about n²/2⁹⁷: below 10⁻¹⁷ at a million contacts,
/// 10⁻¹¹ at a billion. The keys are random per run (SipHash), so no file can
/// be built to collide.
pub(super) struct SeenIds {
    /// Disjoint, in increasing order.
    pub(super) runs: Vec<IdRun>,
    pub(super) shards: Vec<HashSet<IdEntry, BuildHasherDefault<PassThrough>>>,
    /// Entries in `shards`: while there are none, integer ids need no hash.
    pub(super) hashed: usize,
    pub(super) keys: RandomState,
}

/// Integer ids `start..=end`, first seen at rows `row..`, one row each.
#[derive(Debug, Clone, Copy)]
pub(super) struct IdRun {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) row: u64,
}

impl SeenIds {
    pub(super) fn new() -> Self {
        SeenIds {
            runs: Vec::new(),
            shards: Vec::new(),
            hashed: 0,
            keys: RandomState::new(),
        }
    }

    /// Records `id` as first seen at `row`, or returns the row that had it.
    pub(super) fn insert(&mut self, id: &str, row: u64) -> Option<u64> {
        if let Some(n) = integer_id(id) {
            if let Some(first) = self.run_row(n) {
                return Some(first);
            }
            if self.hashed == 0 {
                // Nothing hashed yet, so the table cannot hold it.
                if self.add_to_run(n, row) {
                    return None;
                }
            } else {
                let (shard, entry) = self.entry(id, row);
                if let Some(first) = self.shards[shard].get(&entry) {
                    return Some(first.row());
                }
                if !self.add_to_run(n, row) {
                    self.shards[shard].insert(entry);
                    self.hashed += 1;
                }
                return None;
            }
        }
        let (shard, entry) = self.entry(id, row);
        let set = &mut self.shards[shard];
        if set.insert(entry) {
            self.hashed += 1;
            return None;
        }
        set.get(&entry).map(|first| first.row())
    }

    /// The shard and table entry of `id` first seen at `row`; the shards
    /// are made on first use, as a file of increasing numbers needs none.
    pub(super) fn entry(&mut self, id: &str, row: u64) -> (usize, IdEntry) {
        if self.shards.is_empty() {
            self.shards = (0..ID_SHARDS).map(|_| HashSet::default()).collect();
        }
        let high = self.keys.hash_one((0u8, id));
        let low = self.keys.hash_one((1u8, id));
        let key = (u128::from(high) << 24) | u128::from(low >> 40);
        let shard = (low & (ID_SHARDS as u64 - 1)) as usize;
        (
            shard,
            IdEntry((key << ROW_BITS) | u128::from(row.min(ROW_MAX))),
        )
    }

    /// The row of integer id `n` if a run holds it.
    pub(super) fn run_row(&self, n: u64) -> Option<u64> {
        let last = self.runs.last()?;
        if n > last.end {
            return None;
        }
        let at = self.runs.partition_point(|r| r.end < n);
        let run = self.runs.get(at)?;
        (run.start <= n).then(|| run.row + (n - run.start))
    }

    /// Adds integer id `n` (not yet seen) to the runs if it comes after all
    /// of them; false if it does not.
    pub(super) fn add_to_run(&mut self, n: u64, row: u64) -> bool {
        match self.runs.last_mut() {
            Some(last) if n <= last.end => false,
            Some(last) if n == last.end + 1 && row == last.row + (last.end - last.start) + 1 => {
                last.end = n;
                true
            }
            _ => {
                self.runs.push(IdRun {
                    start: n,
                    end: n,
                    row,
                });
                true
            }
        }
    }
}

/// `id` as an integer if it is one written the canonical way (decimal, no
/// sign, no leading zero), so that equal integers are equal ids.
pub(super) fn integer_id(id: &str) -> Option<u64> {
    let bytes = id.as_bytes();
    if bytes.is_empty() || bytes.len() > 19 || (bytes[0] == b'0' && bytes.len() > 1) {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// An id's hash (the top 88 bits, compared and hashed) and its first row.
#[derive(Debug, Clone, Copy)]
pub(super) struct IdEntry(pub(super) u128);

impl IdEntry {
    pub(super) fn key(self) -> u128 {
        self.0 >> ROW_BITS
    }

    pub(super) fn row(self) -> u64 {
        (self.0 as u64) & ROW_MAX
    }
}

impl PartialEq for IdEntry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for IdEntry {}

impl Hash for IdEntry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.key() as u64);
    }
}

/// The entries are random already: hashing them again would only cost time.
#[derive(Default)]
pub(super) struct PassThrough(pub(super) u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
