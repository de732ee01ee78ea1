//! Uniqueness, novelty, validity and V.U.N. of generated graphs, as SPECTRE
//! (util/eval_helper.py) and DiGress (src/analysis/spectre_utils.py) compute them.
//!
//! Isomorphism classes are found with a Weisfeiler–Lehman colour-refinement hash as a
//! prefilter (graphs with different hashes are never isomorphic) and confirmed with
//! `petgraph::algo::is_isomorphic` (VF2), so every reported fraction is exact.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use graph_tensor::Graph;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::MmdError;

/// A synthetic family with a validity test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Validity {
    /// Connected and planar (SPECTRE `is_planar_graph`: `nx.is_connected(G) and
    /// nx.check_planarity(G)[0]`).
    Planar,
    /// Connected and acyclic (`nx.is_tree`).
    Tree,
    /// A tree that becomes a path (or a single node / nothing) after deleting its leaves
    /// twice (GRAN/SPECTRE `is_lobster_graph`).
    Lobster,
    /// SPECTRE's SBM test. Not implemented: SPECTRE fits a stochastic block model with
    /// graph-tool (`minimize_blockmodel_dl` + merge-split MCMC) and applies a Wald test;
    /// no faithful native equivalent exists, so asking for it is an error.
    Sbm,
}

impl Validity {
    /// Canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Validity::Planar => "planar",
            Validity::Tree => "tree",
            Validity::Lobster => "lobster",
            Validity::Sbm => "sbm",
        }
    }

    /// Whether `g` is a valid member of the family.
    pub fn check(self, g: &Graph) -> Result<bool, MmdError> {
        Ok(match self {
            Validity::Planar => is_connected(g) && crate::planarity::is_planar(g),
            Validity::Tree => is_tree(g),
            Validity::Lobster => is_lobster(g),
            Validity::Sbm => return Err(sbm_unsupported()),
        })
    }
}

fn sbm_unsupported() -> MmdError {
    MmdError::Unsupported(
        "SBM validity: SPECTRE/DiGress fit a stochastic block model with graph-tool \
         (minimize_blockmodel_dl + merge-split MCMC) and apply a Wald test on the fitted \
         block probabilities; graph-mmd has no faithful native equivalent, so it reports no \
         SBM validity (uniqueness and novelty are still available without --validity)"
            .into(),
    )
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Validity {
    type Err = MmdError;
    fn from_str(s: &str) -> Result<Self, MmdError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "planar" => Ok(Validity::Planar),
            "tree" => Ok(Validity::Tree),
            "lobster" => Ok(Validity::Lobster),
            "sbm" => Ok(Validity::Sbm),
            _ => Err(MmdError::UnknownName {
                what: "validity family",
                name: s.to_string(),
                known: "planar, tree, lobster, sbm".into(),
            }),
        }
    }
}

/// Whether `g` is connected; a graph with no nodes is not (networkx raises for it).
pub fn is_connected(g: &Graph) -> bool {
    let n = g.n();
    if n == 0 {
        return false;
    }
    let adj = g.adjacency_lists();
    let mut seen = vec![false; n];
    let mut stack = vec![0];
    seen[0] = true;
    let mut count = 1;
    while let Some(x) = stack.pop() {
        for &y in &adj[x] {
            if !seen[y] {
                seen[y] = true;
                count += 1;
                stack.push(y);
            }
        }
    }
    count == n
}

/// `nx.is_tree`: connected with `n − 1` edges (no nodes: not a tree).
pub fn is_tree(g: &Graph) -> bool {
    g.n() > 0 && g.num_edges() == g.n() - 1 && is_connected(g)
}

/// GRAN/SPECTRE `is_lobster_graph`: a tree that, after deleting all leaves twice, is a path
/// (exactly two degree-1 nodes and the rest of degree 2) or has no node of degree 1 or 2
/// (nothing or a single node is left).
pub fn is_lobster(g: &Graph) -> bool {
    if !is_tree(g) {
        return false;
    }
    let n = g.n();
    let adj = g.adjacency_lists();
    let mut alive = vec![true; n];
    let mut deg: Vec<usize> = adj.iter().map(Vec::len).collect();
    for _ in 0..2 {
        let leaves: Vec<usize> = (0..n).filter(|&v| alive[v] && deg[v] == 1).collect();
        for &v in &leaves {
            alive[v] = false;
        }
        for &v in &leaves {
            for &w in &adj[v] {
                if alive[w] {
                    deg[w] -= 1;
                }
            }
        }
    }
    let left: Vec<usize> = (0..n).filter(|&v| alive[v]).collect();
    let d1 = left.iter().filter(|&&v| deg[v] == 1).count();
    let d2 = left.iter().filter(|&&v| deg[v] == 2).count();
    (d1 == 2 && d2 == left.len().saturating_sub(2) && left.len() >= 2) || (d1 == 0 && d2 == 0)
}

#[inline]
fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// Weisfeiler–Lehman hash of a graph: isomorphic graphs get equal hashes. Colours start
/// from degrees and are refined until the number of colour classes stops growing (at most n
/// rounds); the hash combines n, m and the sorted multiset of final colours.
pub fn wl_hash(g: &Graph) -> u64 {
    let n = g.n();
    let adj = g.adjacency_lists();
    let mut col: Vec<u64> = adj
        .iter()
        .map(|a| mix(0x9e37_79b9, a.len() as u64))
        .collect();
    let classes = |c: &[u64]| {
        let mut s = c.to_vec();
        s.sort_unstable();
        s.dedup();
        s.len()
    };
    let mut k = classes(&col);
    let mut buf = Vec::new();
    for _ in 0..n {
        let next: Vec<u64> = (0..n)
            .map(|v| {
                buf.clear();
                buf.extend(adj[v].iter().map(|&w| col[w]));
                buf.sort_unstable();
                buf.iter().fold(mix(col[v], 0xabcdef), |h, &c| mix(h, c))
            })
            .collect();
        let k2 = classes(&next);
        col = next;
        if k2 == k {
            break;
        }
        k = k2;
    }
    col.sort_unstable();
    col.iter()
        .fold(mix(mix(1, n as u64), g.num_edges() as u64), |h, &c| {
            mix(h, c)
        })
}

/// Whether two graphs are isomorphic (VF2 after cheap invariants).
pub fn isomorphic(a: &Graph, b: &Graph) -> bool {
    if a.n() != b.n() || a.num_edges() != b.num_edges() {
        return false;
    }
    let (mut da, mut db) = (a.degrees(), b.degrees());
    da.sort_unstable();
    db.sort_unstable();
    if da != db {
        return false;
    }
    petgraph::algo::is_isomorphic(&a.to_petgraph(), &b.to_petgraph())
}

/// Uniqueness / novelty / validity of a set of generated graphs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Generated graphs evaluated.
    pub n_generated: usize,
    /// Training graphs compared against (novelty), if any.
    pub n_train: Option<usize>,
    /// Fraction of generated graphs that are not isomorphic to an earlier generated graph
    /// (= distinct isomorphism classes / n; SPECTRE `frac_unique`).
    pub unique: f64,
    /// Fraction of generated graphs not isomorphic to any training graph
    /// (`1 − eval_fraction_isomorphic`; the "Novel" column).
    pub novel: Option<f64>,
    /// Fraction that are unique and novel (`frac_unique_non_isomorphic`).
    pub unique_novel: Option<f64>,
    /// The validity family, if one was tested.
    pub validity: Option<Validity>,
    /// Fraction of generated graphs that are valid (`eval_acc_*_graph`).
    pub valid: Option<f64>,
    /// V.U.N.: fraction that are valid, unique and novel
    /// (`frac_unique_non_isomorphic_valid`: validity tested on the first graph of each
    /// novel isomorphism class, divided by the number of generated graphs).
    pub vun: Option<f64>,
}

/// Computes [`QualityReport`] for `generated`, against `train` for novelty and with an
/// optional validity test. Graphs are taken as given (SPECTRE/DiGress evaluate the sampled
/// graphs without deleting isolated nodes).
pub fn sample_quality(
    generated: &[Graph],
    train: Option<&[Graph]>,
    validity: Option<Validity>,
) -> Result<QualityReport, MmdError> {
    if validity == Some(Validity::Sbm) {
        return Err(sbm_unsupported());
    }
    let n = generated.len();
    if n == 0 {
        return Err(MmdError::EmptySet {
            side: "generated",
            detail: String::new(),
        });
    }
    let gh: Vec<u64> = generated.par_iter().map(wl_hash).collect();
    // Uniqueness, in order: a graph is a duplicate if isomorphic to an earlier representative.
    let mut reps: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut is_rep = vec![false; n];
    for i in 0..n {
        let bucket = reps.entry(gh[i]).or_default();
        if !bucket
            .iter()
            .any(|&j| isomorphic(&generated[i], &generated[j]))
        {
            bucket.push(i);
            is_rep[i] = true;
        }
    }
    let n_unique = is_rep.iter().filter(|&&r| r).count();

    // Novelty of every generated graph (in parallel).
    let in_train: Option<Vec<bool>> = train.map(|train| {
        let th: Vec<u64> = train.par_iter().map(wl_hash).collect();
        let mut tb: HashMap<u64, Vec<usize>> = HashMap::new();
        for (j, h) in th.iter().enumerate() {
            tb.entry(*h).or_default().push(j);
        }
        (0..n)
            .into_par_iter()
            .map(|i| {
                tb.get(&gh[i])
                    .is_some_and(|js| js.iter().any(|&j| isomorphic(&generated[i], &train[j])))
            })
            .collect()
    });
    let valid_flags: Option<Vec<bool>> = match validity {
        Some(v) => Some(
            generated
                .par_iter()
                .map(|g| v.check(g))
                .collect::<Result<Vec<bool>, MmdError>>()?,
        ),
        None => None,
    };
    let nf = n as f64;
    let novel = in_train
        .as_ref()
        .map(|t| t.iter().filter(|&&x| !x).count() as f64 / nf);
    let unique_novel = in_train
        .as_ref()
        .map(|t| (0..n).filter(|&i| is_rep[i] && !t[i]).count() as f64 / nf);
    let valid = valid_flags
        .as_ref()
        .map(|v| v.iter().filter(|&&x| x).count() as f64 / nf);
    let vun = match (&in_train, &valid_flags) {
        (Some(t), Some(v)) => {
            Some((0..n).filter(|&i| is_rep[i] && !t[i] && v[i]).count() as f64 / nf)
        }
        _ => None,
    };
    Ok(QualityReport {
        n_generated: n,
        n_train: train.map(<[Graph]>::len),
        unique: n_unique as f64 / nf,
        novel,
        unique_novel,
        validity,
        valid,
        vun,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;

    fn path(n: usize) -> Graph {
        Graph::new(n, (1..n).map(|i| (i - 1, i))).unwrap()
    }

    fn shuffled(g: &Graph, seed: u64) -> Graph {
        let mut p: Vec<usize> = (0..g.n()).collect();
        p.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        g.permute(&p)
    }

    #[test]
    fn trees_and_lobsters() {
        assert!(!is_tree(&Graph::empty(0)));
        assert!(is_tree(&Graph::empty(1)));
        assert!(!is_tree(&Graph::empty(2)));
        assert!(is_tree(&path(5)));
        assert!(is_lobster(&path(7)));
        assert!(is_lobster(&Graph::empty(1)));
        assert!(is_lobster(&path(2)));
        // Caterpillar with legs of length 2 on a spine 0-1-2: a lobster.
        let lob = Graph::new(
            9,
            [
                (0, 1),
                (1, 2),
                (1, 3),
                (3, 4),
                (2, 5),
                (5, 6),
                (0, 7),
                (7, 8),
            ],
        )
        .unwrap();
        assert!(is_lobster(&lob));
        // A spider with three legs of length 3: removing leaves twice leaves a star K1,3.
        let spider = Graph::new(
            10,
            [
                (0, 1),
                (1, 2),
                (2, 3),
                (0, 4),
                (4, 5),
                (5, 6),
                (0, 7),
                (7, 8),
                (8, 9),
            ],
        )
        .unwrap();
        assert!(is_tree(&spider));
        assert!(!is_lobster(&spider));
        let cyc = Graph::new(4, [(0, 1), (1, 2), (2, 3), (0, 3)]).unwrap();
        assert!(!is_lobster(&cyc));
    }

    #[test]
    fn wl_hash_is_invariant() {
        let g = Graph::new(7, [(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (4, 5), (5, 3)]).unwrap();
        for s in 0..10 {
            let h = shuffled(&g, s);
            assert_eq!(wl_hash(&g), wl_hash(&h));
            assert!(isomorphic(&g, &h));
        }
        // Two triangles vs a hexagon: same degrees, WL tells them apart.
        let two_tri = Graph::new(6, [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)]).unwrap();
        let hex = Graph::new(6, (0..6).map(|i| (i, (i + 1) % 6))).unwrap();
        assert!(!isomorphic(&two_tri, &hex));
    }

    #[test]
    fn fractions_as_spectre() {
        let a = path(5);
        let b = Graph::new(5, [(0, 1), (0, 2), (0, 3), (0, 4)]).unwrap(); // star: tree, not path
        let c = Graph::new(4, [(0, 1), (1, 2), (2, 3), (0, 3)]).unwrap(); // C4: not a tree
        let gen = vec![
            a.clone(),
            shuffled(&a, 3),
            b.clone(),
            c.clone(),
            shuffled(&c, 1),
        ];
        let train = vec![shuffled(&b, 9)];
        let q = sample_quality(&gen, Some(&train), Some(Validity::Tree)).unwrap();
        assert_eq!(q.n_generated, 5);
        assert!((q.unique - 3.0 / 5.0).abs() < 1e-15);
        assert!((q.novel.unwrap() - 4.0 / 5.0).abs() < 1e-15);
        assert!((q.unique_novel.unwrap() - 2.0 / 5.0).abs() < 1e-15);
        assert!((q.valid.unwrap() - 3.0 / 5.0).abs() < 1e-15);
        // Unique, novel and valid: only the path.
        assert!((q.vun.unwrap() - 1.0 / 5.0).abs() < 1e-15);
        assert!(sample_quality(&gen, None, Some(Validity::Sbm)).is_err());
        assert!(sample_quality(&[], None, None).is_err());
        let q = sample_quality(&gen, None, None).unwrap();
        assert_eq!(q.novel, None);
        assert_eq!(q.vun, None);
    }

    #[test]
    fn planar_validity_needs_connectivity() {
        let two = Graph::new(6, [(0, 1), (1, 2), (3, 4), (4, 5)]).unwrap();
        assert!(!Validity::Planar.check(&two).unwrap());
        assert!(Validity::Planar.check(&path(6)).unwrap());
        assert!(!Validity::Planar.check(&Graph::empty(0)).unwrap());
    }
}
