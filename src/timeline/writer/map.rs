//! The writer's one map: u64 keys to u64 values, open addressing with
//! linear probing. Every lookup of the writer (function names, M and
//! thread states, named tracks, waiting flow ends) goes through it, values
//! that are not a u64 living in a vector it indexes: one small,
//! non-generic table rather than an instance of the standard hash map
//! (and its random seed) per key and value type.
//!
//! # Invariants
//!
//! - A slot is free exactly when its value is [`FREE`]; values stored are
//!   never `FREE`.
//! - The table's length is 0 or a power of two, at most half full, so a
//!   probe always ends at a free slot.
//! - Every key sits in the run of occupied slots that starts at its home
//!   slot ([`Map::home`]): [`Map::remove`] shifts later keys back into
//!   the hole rather than leave a marker.

/// The value of a free slot.
const FREE: u64 = u64::MAX;

/// A map from u64 to u64 (values below `u64::MAX`).
#[derive(Debug, Default)]
pub(super) struct Map {
    /// (key, value); the length is 0 or a power of two.
    t: Vec<(u64, u64)>,
    /// Keys held.
    len: usize,
}

impl Map {
    /// Where the probe for `k` starts (the keys are ids, addresses and
    /// flow words, not chosen by an adversary: splitmix64's finalizer
    /// spreads them).
    fn home(&self, k: u64) -> usize {
        let mut x = k;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (x ^ (x >> 31)) as usize & (self.t.len() - 1)
    }

    /// The slot holding `k`, or the free slot that ends its probe. The
    /// table is not empty.
    fn find(&self, k: u64) -> usize {
        let mask = self.t.len() - 1;
        let mut i = self.home(k);
        while self.t[i].1 != FREE && self.t[i].0 != k {
            i = (i + 1) & mask;
        }
        i
    }

    /// The value of `k`.
    #[inline(never)]
    pub(super) fn get(&self, k: u64) -> Option<u64> {
        if self.t.is_empty() {
            return None;
        }
        let v = self.t[self.find(k)].1;
        (v != FREE).then_some(v)
    }

    /// Sets the value of `k` to `v` (not `u64::MAX`); returns the old one.
    #[inline(never)]
    pub(super) fn insert(&mut self, k: u64, v: u64) -> Option<u64> {
        debug_assert_ne!(v, FREE);
        if (self.len + 1) * 2 > self.t.len() {
            self.grow();
        }
        let i = self.find(k);
        let old = std::mem::replace(&mut self.t[i], (k, v)).1;
        if old == FREE {
            self.len += 1;
            return None;
        }
        Some(old)
    }

    /// Removes `k`; returns its value.
    #[inline(never)]
    pub(super) fn remove(&mut self, k: u64) -> Option<u64> {
        if self.t.is_empty() {
            return None;
        }
        let mut hole = self.find(k);
        let v = self.t[hole].1;
        if v == FREE {
            return None;
        }
        self.len -= 1;
        // Later keys of the run whose home is not between the hole and
        // them (cyclically) would be cut off from it: move them back.
        let mask = self.t.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let (kj, vj) = self.t[j];
            if vj == FREE {
                break;
            }
            let home = self.home(kj);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.t[hole] = (kj, vj);
                hole = j;
            }
        }
        self.t[hole].1 = FREE;
        Some(v)
    }

    /// Doubles the table (16 slots at first) and puts the keys back.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let n = (self.t.len() * 2).max(16);
        let old = std::mem::replace(&mut self.t, vec![(0, FREE); n]);
        self.len = 0;
        for (k, v) in old {
            if v != FREE {
                self.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_a_hash_map() {
        let mut m = Map::default();
        let mut model = std::collections::HashMap::new();
        assert_eq!(m.get(1), None);
        assert_eq!(m.remove(1), None);
        // Keys from a small range (so that they collide, and removals
        // find them) and values from a generator.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = ((x >> 3) % 3000) | ((x & 1) << 63);
            match x % 3 {
                0 | 1 => assert_eq!(m.insert(k, step), model.insert(k, step)),
                _ => assert_eq!(m.remove(k), model.remove(&k)),
            }
            assert_eq!(m.get(k), model.get(&k).copied());
            assert_eq!(m.len, model.len());
        }
        for (&k, &v) in &model {
            assert_eq!(m.get(k), Some(v));
        }
    }
}
