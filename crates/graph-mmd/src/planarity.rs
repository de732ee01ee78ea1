//! Planarity test: the left-right (LR) algorithm of de Fraysseix and Rosenstiehl in
//! Brandes' formulation ("The Left-Right Planarity Test", 2009), the algorithm behind
//! networkx's `check_planarity`. Only the yes/no answer is computed (no embedding).
//! Iterative depth-first searches, so deep graphs cannot overflow the stack. Linear time.

use graph_tensor::Graph;

const NONE: usize = usize::MAX;

#[derive(Clone, Copy, Debug)]
struct Interval {
    low: usize,
    high: usize,
}

impl Interval {
    const EMPTY: Interval = Interval {
        low: NONE,
        high: NONE,
    };
    fn is_empty(&self) -> bool {
        self.low == NONE && self.high == NONE
    }
}

#[derive(Clone, Copy, Debug)]
struct ConflictPair {
    left: Interval,
    right: Interval,
    /// Identity, so that "top of stack is `stack_bottom[e]`" compares objects, as in the paper.
    id: usize,
}

impl ConflictPair {
    fn swap(&mut self) {
        std::mem::swap(&mut self.left, &mut self.right);
    }
}

struct Lr<'a> {
    height: Vec<usize>,
    parent_edge: Vec<usize>,
    /// Oriented edge e: tail[e] → head[e].
    tail: Vec<usize>,
    head: Vec<usize>,
    lowpt: Vec<usize>,
    lowpt2: Vec<usize>,
    nesting: Vec<usize>,
    lowpt_edge: Vec<usize>,
    reference: Vec<usize>,
    stack_bottom: Vec<usize>,
    stack: Vec<ConflictPair>,
    next_id: usize,
    adj: &'a [Vec<(usize, usize)>],
}

impl Lr<'_> {
    fn conflicting(&self, i: &Interval, b: usize) -> bool {
        !i.is_empty() && self.lowpt[i.high] > self.lowpt[b]
    }

    fn lowest(&self, p: &ConflictPair) -> usize {
        if p.left.is_empty() {
            return self.lowpt[p.right.low];
        }
        if p.right.is_empty() {
            return self.lowpt[p.left.low];
        }
        self.lowpt[p.left.low].min(self.lowpt[p.right.low])
    }

    fn top_id(&self) -> usize {
        self.stack.last().map_or(NONE, |p| p.id)
    }

    fn set_ref(&mut self, e: usize, to: usize) {
        if e != NONE {
            self.reference[e] = to;
        }
    }

    fn push(&mut self, left: Interval, right: Interval) {
        let id = self.next_id;
        self.next_id += 1;
        self.stack.push(ConflictPair { left, right, id });
    }

    /// Phase 1: orient the edges along a DFS from `root`, computing heights, lowpoints and
    /// nesting depths.
    fn orient(&mut self, root: usize, oriented: &mut [bool], resume: &mut [bool]) {
        let mut pos: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&(v, i)) = pos.last() {
            if i >= self.adj[v].len() {
                pos.pop();
                continue;
            }
            let (w, ue) = self.adj[v][i];
            let e = self.parent_edge[v];
            if !resume[ue] {
                if oriented[ue] {
                    pos.last_mut().expect("non-empty").1 += 1;
                    continue;
                }
                oriented[ue] = true;
                self.tail[ue] = v;
                self.head[ue] = w;
                self.lowpt[ue] = self.height[v];
                self.lowpt2[ue] = self.height[v];
                if self.height[w] == NONE {
                    // Tree edge: descend, finish this edge when we come back.
                    self.parent_edge[w] = ue;
                    self.height[w] = self.height[v] + 1;
                    resume[ue] = true;
                    pos.push((w, 0));
                    continue;
                }
                // Back edge.
                self.lowpt[ue] = self.height[w];
            }
            // Nesting depth, and the lowpoints of the parent edge.
            self.nesting[ue] = 2 * self.lowpt[ue];
            if self.lowpt2[ue] < self.height[v] {
                self.nesting[ue] += 1; // chordal
            }
            if e != NONE {
                if self.lowpt[ue] < self.lowpt[e] {
                    self.lowpt2[e] = self.lowpt[e].min(self.lowpt2[ue]);
                    self.lowpt[e] = self.lowpt[ue];
                } else if self.lowpt[ue] > self.lowpt[e] {
                    self.lowpt2[e] = self.lowpt2[e].min(self.lowpt[ue]);
                } else {
                    self.lowpt2[e] = self.lowpt2[e].min(self.lowpt2[ue]);
                }
            }
            pos.last_mut().expect("non-empty").1 += 1;
        }
    }

    fn add_constraints(&mut self, ei: usize, e: usize) -> bool {
        let mut p = ConflictPair {
            left: Interval::EMPTY,
            right: Interval::EMPTY,
            id: NONE,
        };
        // Merge the return edges of e_i into P.right.
        while let Some(mut q) = self.stack.pop() {
            if !q.left.is_empty() {
                q.swap();
            }
            if !q.left.is_empty() {
                return false;
            }
            if self.lowpt[q.right.low] > self.lowpt[e] {
                if p.right.is_empty() {
                    p.right = q.right;
                } else {
                    self.set_ref(p.right.low, q.right.high);
                }
                p.right.low = q.right.low;
            } else {
                let le = self.lowpt_edge[e];
                self.set_ref(q.right.low, le);
            }
            if self.top_id() == self.stack_bottom[ei] {
                break;
            }
        }
        // Merge the conflicting return edges of e_1 … e_{i−1} into P.left.
        while let Some(top) = self.stack.last() {
            if !(self.conflicting(&top.left, ei) || self.conflicting(&top.right, ei)) {
                break;
            }
            let mut q = self.stack.pop().expect("non-empty");
            if self.conflicting(&q.right, ei) {
                q.swap();
            }
            if self.conflicting(&q.right, ei) {
                return false;
            }
            self.set_ref(p.right.low, q.right.high);
            if q.right.low != NONE {
                p.right.low = q.right.low;
            }
            if p.left.is_empty() {
                p.left = q.left;
            } else {
                self.set_ref(p.left.low, q.left.high);
            }
            p.left.low = q.left.low;
        }
        if !(p.left.is_empty() && p.right.is_empty()) {
            self.push(p.left, p.right);
        }
        true
    }

    fn remove_back_edges(&mut self, e: usize) {
        let u = self.tail[e];
        while let Some(top) = self.stack.last() {
            if self.lowest(top) != self.height[u] {
                break;
            }
            self.stack.pop();
        }
        if let Some(mut p) = self.stack.pop() {
            while p.left.high != NONE && self.head[p.left.high] == u {
                p.left.high = self.reference[p.left.high];
            }
            if p.left.high == NONE && p.left.low != NONE {
                self.set_ref(p.left.low, p.right.low);
                p.left.low = NONE;
            }
            while p.right.high != NONE && self.head[p.right.high] == u {
                p.right.high = self.reference[p.right.high];
            }
            if p.right.high == NONE && p.right.low != NONE {
                self.set_ref(p.right.low, p.left.low);
                p.right.low = NONE;
            }
            self.stack.push(p);
        }
        if self.lowpt[e] < self.height[u] {
            let top = *self.stack.last().expect("e has a return edge on the stack");
            let (hl, hr) = (top.left.high, top.right.high);
            if hl != NONE && (hr == NONE || self.lowpt[hl] > self.lowpt[hr]) {
                self.reference[e] = hl;
            } else {
                self.reference[e] = hr;
            }
        }
    }

    /// Phase 2: the LR test along the oriented DFS tree from `root`.
    fn test(&mut self, root: usize, ordered: &[Vec<(usize, usize)>], resume: &mut [bool]) -> bool {
        let mut pos: Vec<(usize, usize)> = vec![(root, 0)];
        'outer: while let Some(&(v, _)) = pos.last() {
            let e = self.parent_edge[v];
            loop {
                let i = pos.last().expect("non-empty").1;
                if i >= ordered[v].len() {
                    break;
                }
                let (w, ei) = ordered[v][i];
                if !resume[ei] {
                    self.stack_bottom[ei] = self.top_id();
                    if ei == self.parent_edge[w] {
                        resume[ei] = true;
                        pos.push((w, 0));
                        continue 'outer;
                    }
                    self.lowpt_edge[ei] = ei;
                    self.push(Interval::EMPTY, Interval { low: ei, high: ei });
                }
                if self.lowpt[ei] < self.height[v] {
                    if i == 0 {
                        self.lowpt_edge[e] = self.lowpt_edge[ei];
                    } else if !self.add_constraints(ei, e) {
                        return false;
                    }
                }
                pos.last_mut().expect("non-empty").1 += 1;
            }
            if e != NONE {
                self.remove_back_edges(e);
            }
            pos.pop();
        }
        true
    }
}

/// Whether `g` is planar (networkx `check_planarity(G)[0]`). Isolated nodes and
/// disconnected graphs are allowed (each component is tested).
pub fn is_planar(g: &Graph) -> bool {
    let n = g.n();
    let m = g.num_edges();
    if n > 2 && m > 3 * n - 6 {
        return false;
    }
    // Undirected adjacency with edge ids.
    let mut adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (id, &(u, v)) in g.edges().iter().enumerate() {
        adj[u].push((v, id));
        adj[v].push((u, id));
    }
    let mut lr = Lr {
        height: vec![NONE; n],
        parent_edge: vec![NONE; n],
        tail: vec![NONE; m],
        head: vec![NONE; m],
        lowpt: vec![0; m],
        lowpt2: vec![0; m],
        nesting: vec![0; m],
        lowpt_edge: vec![NONE; m],
        reference: vec![NONE; m],
        stack_bottom: vec![NONE; m],
        stack: Vec::new(),
        next_id: 0,
        adj: &adj,
    };
    let mut oriented = vec![false; m];
    let mut resume = vec![false; m];
    let mut roots = Vec::new();
    for v in 0..n {
        if lr.height[v] == NONE {
            lr.height[v] = 0;
            roots.push(v);
            lr.orient(v, &mut oriented, &mut resume);
        }
    }
    // Outgoing oriented edges of every node, sorted by nesting depth (stable).
    let mut ordered: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for v in 0..n {
        for &(w, e) in &adj[v] {
            if lr.tail[e] == v {
                ordered[v].push((w, e));
            }
        }
        ordered[v].sort_by_key(|&(_, e)| lr.nesting[e]);
    }
    let mut resume = vec![false; m];
    for &r in &roots {
        if !lr.test(r, &ordered, &mut resume) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn complete(n: usize) -> Graph {
        let mut e = vec![];
        for u in 0..n {
            for v in u + 1..n {
                e.push((u, v));
            }
        }
        Graph::new(n, e).unwrap()
    }

    fn k33() -> Graph {
        let mut e = vec![];
        for u in 0..3 {
            for v in 3..6 {
                e.push((u, v));
            }
        }
        Graph::new(6, e).unwrap()
    }

    fn grid(a: usize, b: usize) -> Graph {
        let mut e = vec![];
        for i in 0..a {
            for j in 0..b {
                let v = i * b + j;
                if j + 1 < b {
                    e.push((v, v + 1));
                }
                if i + 1 < a {
                    e.push((v, v + b));
                }
            }
        }
        Graph::new(a * b, e).unwrap()
    }

    /// Subdivides every edge of `g` once (planarity is preserved either way).
    fn subdivide(g: &Graph) -> Graph {
        let n = g.n();
        let mut e = vec![];
        for (i, &(u, v)) in g.edges().iter().enumerate() {
            e.push((u, n + i));
            e.push((n + i, v));
        }
        Graph::new(n + g.num_edges(), e).unwrap()
    }

    /// Disjoint union.
    fn union(a: &Graph, b: &Graph) -> Graph {
        let mut e: Vec<(usize, usize)> = a.edges().to_vec();
        e.extend(b.edges().iter().map(|&(u, v)| (u + a.n(), v + a.n())));
        Graph::new(a.n() + b.n(), e).unwrap()
    }

    /// Random stacked triangulation (maximal planar) with random extra chords removed.
    fn random_planar(n: usize, seed: u64) -> Graph {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut faces = vec![[0usize, 1, 2]];
        let mut e = vec![(0, 1), (1, 2), (0, 2)];
        for v in 3..n {
            let f = rng.gen_range(0..faces.len());
            let [a, b, c] = faces.swap_remove(f);
            e.extend([(a, v), (b, v), (c, v)]);
            faces.extend([[a, b, v], [b, c, v], [a, c, v]]);
        }
        e.retain(|_| rng.gen::<f64>() < 0.85);
        Graph::new(n.max(3), e).unwrap()
    }

    #[test]
    fn classics() {
        assert!(is_planar(&Graph::empty(0)));
        assert!(is_planar(&Graph::empty(5)));
        assert!(is_planar(&complete(4)));
        assert!(!is_planar(&complete(5)));
        assert!(!is_planar(&k33()));
        assert!(!is_planar(&subdivide(&complete(5))));
        assert!(!is_planar(&subdivide(&k33())));
        assert!(is_planar(&grid(19, 19)));
        assert!(is_planar(&subdivide(&grid(5, 7))));
        // Petersen graph.
        let pet = Graph::new(
            10,
            [
                (0, 1),
                (1, 2),
                (2, 3),
                (3, 4),
                (0, 4),
                (0, 5),
                (1, 6),
                (2, 7),
                (3, 8),
                (4, 9),
                (5, 7),
                (7, 9),
                (9, 6),
                (6, 8),
                (8, 5),
            ],
        )
        .unwrap();
        assert!(!is_planar(&pet));
        // K3,3 minus an edge is planar.
        let mut e = k33().edges().to_vec();
        e.pop();
        assert!(is_planar(&Graph::new(6, e).unwrap()));
        // A long path (deep DFS).
        let path = Graph::new(20_000, (0..19_999).map(|i| (i, i + 1))).unwrap();
        assert!(is_planar(&path));
    }

    #[test]
    fn planar_plus_kuratowski() {
        for seed in 0..40 {
            let p = random_planar(40 + seed as usize, seed);
            assert!(is_planar(&p), "seed {seed}");
            assert!(!is_planar(&union(&p, &subdivide(&k33()))), "seed {seed}");
            // Glue a K5 subdivision onto the planar graph at a node.
            let k5 = subdivide(&complete(5));
            let mut e = p.edges().to_vec();
            let off = p.n();
            e.extend(k5.edges().iter().map(|&(u, v)| (u + off, v + off)));
            e.push((0, off));
            assert!(!is_planar(&Graph::new(off + k5.n(), e).unwrap()));
        }
    }

    /// Exhaustive oracle for small graphs: planar iff some rotation system gives a genus-0
    /// embedding of every component (V − E + F = 2 per component with an edge).
    fn planar_by_rotations(g: &Graph) -> Option<bool> {
        let n = g.n();
        let adj = g.adjacency_lists();
        let mut systems: u64 = 1;
        for a in &adj {
            for k in 1..a.len().max(1) {
                systems = systems.saturating_mul(k as u64);
            }
        }
        if systems > 50_000 {
            return None;
        }
        // Components among non-isolated nodes.
        let mut comp = vec![usize::MAX; n];
        let mut c = 0;
        for s in 0..n {
            if comp[s] != usize::MAX || adj[s].is_empty() {
                continue;
            }
            let mut st = vec![s];
            comp[s] = c;
            while let Some(x) = st.pop() {
                for &y in &adj[x] {
                    if comp[y] == usize::MAX {
                        comp[y] = c;
                        st.push(y);
                    }
                }
            }
            c += 1;
        }
        let nv = adj.iter().filter(|a| !a.is_empty()).count() as i64;
        let target = 2 * c as i64 - nv + g.num_edges() as i64;
        let mut rot: Vec<Vec<usize>> = adj.clone();
        fn permutations(v: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
            if k == v.len() {
                out.push(v.clone());
                return;
            }
            for i in k..v.len() {
                v.swap(k, i);
                permutations(v, k + 1, out);
                v.swap(k, i);
            }
        }
        // Rotations of each node: permutations with the first element fixed.
        let choices: Vec<Vec<Vec<usize>>> = adj
            .iter()
            .map(|a| {
                if a.len() <= 2 {
                    return vec![a.clone()];
                }
                let mut out = vec![];
                let mut rest = a[1..].to_vec();
                permutations(&mut rest, 0, &mut out);
                out.into_iter()
                    .map(|r| {
                        let mut x = vec![a[0]];
                        x.extend(r);
                        x
                    })
                    .collect()
            })
            .collect();
        let mut idx = vec![0usize; n];
        loop {
            for v in 0..n {
                rot[v] = choices[v][idx[v]].clone();
            }
            // Count faces by tracing darts: next dart after (u→v) is (v→w), w following u
            // in v's rotation.
            let mut seen = std::collections::HashSet::new();
            let mut faces = 0i64;
            for u in 0..n {
                for &v in &rot[u] {
                    if seen.contains(&(u, v)) {
                        continue;
                    }
                    faces += 1;
                    let (mut a, mut b) = (u, v);
                    while seen.insert((a, b)) {
                        let r = &rot[b];
                        let p = r.iter().position(|&x| x == a).unwrap();
                        let w = r[(p + 1) % r.len()];
                        a = b;
                        b = w;
                    }
                }
            }
            if faces == target {
                return Some(true);
            }
            // Next rotation system.
            let mut v = 0;
            loop {
                if v == n {
                    return Some(false);
                }
                idx[v] += 1;
                if idx[v] < choices[v].len() {
                    break;
                }
                idx[v] = 0;
                v += 1;
            }
        }
    }

    #[test]
    fn agrees_with_rotation_system_oracle() {
        let (mut checked, mut planar, mut nonplanar) = (0, 0, 0);
        for seed in 0..600u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let (n, mut e) = if seed % 2 == 0 {
                // Sparse random graphs (mostly planar).
                let n = rng.gen_range(5..9);
                let p = rng.gen_range(0.3..0.75);
                let mut e = vec![];
                for u in 0..n {
                    for v in u + 1..n {
                        if rng.gen::<f64>() < p {
                            e.push((u, v));
                        }
                    }
                }
                (n, e)
            } else {
                // K5 or K3,3 on 7 nodes with a few edges deleted and added.
                let base = if seed % 4 == 1 { complete(5) } else { k33() };
                let mut e = base.edges().to_vec();
                for _ in 0..rng.gen_range(0..3) {
                    let i = rng.gen_range(0..e.len());
                    e.swap_remove(i);
                }
                for _ in 0..rng.gen_range(0..3) {
                    let (u, v) = (rng.gen_range(0..7), rng.gen_range(0..7));
                    if u != v && !e.contains(&(u.min(v), u.max(v))) {
                        e.push((u.min(v), u.max(v)));
                    }
                }
                (7, e)
            };
            e.sort_unstable();
            let g = Graph::new(n, e).unwrap();
            if let Some(want) = planar_by_rotations(&g) {
                assert_eq!(is_planar(&g), want, "{g:?}");
                checked += 1;
                if want {
                    planar += 1;
                } else {
                    nonplanar += 1;
                }
            }
        }
        // The oracle must have decided enough graphs of both kinds for this test to mean
        // something.
        assert!(
            checked >= 200 && planar >= 50 && nonplanar >= 20,
            "{checked} {planar} {nonplanar}"
        );
    }
}
