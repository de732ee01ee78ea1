//! The iteration order of a CPython `set` of small non-negative integers.
//!
//! networkx builds induced subgraphs through a filter that holds the chosen nodes in a Python
//! `set`, and when the subgraph is less than half the size of the graph it iterates over that
//! set (networkx `FilterAtlas.__iter__`). The node order of `G.subgraph(nodes).copy()`,
//! `nx.ego_graph(...)` and of the ENZYMES graphs in GDSS's `graph_load_batch` is therefore
//! the hash-table order of CPython's set, which the published datasets carry. This module
//! replays CPython's `setobject.c` (open addressing: the home slot `hash & mask`, then up to
//! 9 linear probes, then perturbed jumps `i = 5i + 1 + perturb`; the table grows ×4 when it is
//! 3/5 full) for integer keys, whose hash is the value itself (below 2⁶¹ − 1).

const MIN_SIZE: usize = 8;
const LINEAR_PROBES: usize = 9;
const PERTURB_SHIFT: u32 = 5;

/// A CPython set of non-negative integers, reduced to what decides its iteration order.
#[derive(Debug, Clone)]
pub struct PySet {
    table: Vec<Option<u64>>,
    used: usize,
}

impl Default for PySet {
    fn default() -> Self {
        PySet {
            table: vec![None; MIN_SIZE],
            used: 0,
        }
    }
}

impl PySet {
    /// An empty set (`set()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// `set(iterable)`: the keys inserted one by one in iteration order.
    pub fn from_keys<I: IntoIterator<Item = u64>>(keys: I) -> Self {
        let mut s = PySet::new();
        for k in keys {
            s.insert(k);
        }
        s
    }

    /// Probe sequence of CPython's `set_add_entry` / `set_insert_clean`: the first free slot
    /// or the slot holding `key`.
    fn find_slot(table: &[Option<u64>], key: u64) -> usize {
        let mask = table.len() - 1;
        let mut perturb = key;
        let mut i = (key as usize) & mask;
        loop {
            let probes = if i + LINEAR_PROBES <= mask {
                LINEAR_PROBES
            } else {
                0
            };
            for (j, entry) in table.iter().enumerate().skip(i).take(probes + 1) {
                match *entry {
                    None => return j,
                    Some(k) if k == key => return j,
                    Some(_) => {}
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }

    /// `s.add(key)`. Keys must stay below 2⁶¹ − 1 so that `hash(key) == key`.
    pub fn insert(&mut self, key: u64) {
        debug_assert!(key < (1 << 61) - 1);
        let slot = Self::find_slot(&self.table, key);
        if self.table[slot].is_some() {
            return;
        }
        self.table[slot] = Some(key);
        self.used += 1;
        // No deletions ever happen here, so `fill == used`.
        let mask = self.table.len() - 1;
        if self.used * 5 >= mask * 3 {
            let minused = if self.used > 50_000 {
                self.used * 2
            } else {
                self.used * 4
            };
            let mut newsize = MIN_SIZE;
            while newsize <= minused {
                newsize <<= 1;
            }
            let old = std::mem::replace(&mut self.table, vec![None; newsize]);
            for k in old.into_iter().flatten() {
                let s = Self::find_slot(&self.table, k);
                self.table[s] = Some(k);
            }
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.used
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// The keys in CPython's iteration order (slot order).
    pub fn iter_order(&self) -> Vec<u64> {
        self.table.iter().flatten().copied().collect()
    }
}

/// Node order of networkx `G.subgraph(nodes)` when iterated (and of its `.copy()`): `nodes`
/// are the kept nodes in the order `nbunch_iter` yields them, `graph_order` is the graph's own
/// node count. Below half the graph, the filter set's order; otherwise the graph's order,
/// which for graphs whose nodes were added in ascending order is ascending.
pub fn nx_subgraph_order(nodes: &[u64], graph_order: usize) -> Vec<u64> {
    let set = PySet::from_keys(nodes.iter().copied());
    if 2 * set.len() < graph_order {
        set.iter_order()
    } else {
        let mut v = set.iter_order();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_cpython_orders() {
        // Expected values: CPython 3.11, list(set(iter(keys))).
        let cases: Vec<(Vec<u64>, Vec<u64>)> = vec![
            (vec![17, 3], vec![17, 3]),
            (
                vec![0, 1895, 105, 1907, 311, 703],
                vec![0, 1895, 105, 1907, 311, 703],
            ),
            (
                vec![
                    545, 514, 1570, 4, 617, 75, 1582, 367, 863, 1111, 440, 1022, 703,
                ],
                vec![
                    545, 514, 1570, 4, 617, 75, 1582, 367, 703, 1111, 440, 1022, 863,
                ],
            ),
            (vec![8, 16, 24, 0, 32, 40], vec![32, 0, 8, 40, 16, 24]),
            ((100..140).collect(), (128..140).chain(100..128).collect()),
            (
                vec![
                    2092, 2937, 4342, 237, 3814, 2040, 424, 1284, 927, 3045, 3842, 2019, 3119,
                    4454, 835, 4701, 2042, 107, 1775, 3343, 2289, 1491, 3190, 1307, 589, 1136,
                    3644, 1037, 1083, 14, 43, 1715, 1765, 1358, 1363, 2369, 2569, 1629, 4417, 1677,
                    1488, 1612, 3139, 2447, 176, 2958, 3398, 1359, 1193, 2161, 533, 2718, 2468,
                    4940, 4801, 27, 4882, 2768, 540, 2539,
                ],
                vec![
                    3842, 1284, 2569, 1037, 14, 3343, 1677, 2447, 2958, 4882, 533, 1307, 27, 540,
                    2718, 927, 2468, 424, 1193, 43, 2092, 3119, 176, 1715, 1083, 3644, 2369, 4417,
                    835, 3139, 4801, 3398, 1612, 589, 1358, 1359, 1488, 4940, 2768, 1491, 1363,
                    4701, 1629, 2019, 3045, 3814, 4454, 1765, 107, 2539, 237, 1775, 1136, 2289,
                    2161, 4342, 3190, 2040, 2937, 2042,
                ],
            ),
        ];
        for (keys, want) in cases {
            assert_eq!(
                PySet::from_keys(keys.iter().copied()).iter_order(),
                want,
                "{keys:?}"
            );
        }
    }

    #[test]
    fn duplicates_ignored() {
        let s = PySet::from_keys([5, 5, 13, 5]);
        assert_eq!(s.len(), 2);
        // 13 collides with 5 in the 8-slot table and jumps to slot (5·5 + 1) & 7 = 2.
        assert_eq!(s.iter_order(), vec![13, 5]);
    }
}
