//! Planar graphs of SPECTRE (SPECTRE:data.py `PlanarDataset`, shipped as
//! `data/planar_64_200.pt` and used by DiGress): the Delaunay triangulation of 64 points drawn
//! uniformly in the unit square (`np.random.rand(64, 2)`, unseeded; `scipy.spatial.Delaunay`),
//! every triangle side an edge, node `i` = point `i`.
//!
//! Points are drawn exactly as numpy's `random_sample` does: multiples of 2⁻⁵³ in [0, 1).
//! We keep them as integers `0 ≤ x, y < 2⁵³`, so the orientation and in-circle predicates are
//! evaluated exactly in integer arithmetic (the in-circle determinant needs about 216 bits),
//! and the triangulation is correct for every input, degenerate ones included. It is built
//! by a sweep (points in lexicographic order, each joined to the hull edges it sees) followed
//! by Lawson's edge flips until every edge is locally Delaunay, which for exact predicates
//! ends in a Delaunay triangulation (unique when no four points are cocircular, which happens
//! with probability 0 here).

use std::collections::HashMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{check_range, DatasetError};
use crate::Graph;

/// Parameters of the planar generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanarParams {
    /// Number of graphs.
    pub graphs: usize,
    /// Inclusive range of node counts, drawn uniformly per graph ([64, 64]).
    pub nodes: [usize; 2],
}

/// A point with integer coordinates below 2⁵³ (the point `(x, y) / 2⁵³`).
pub type Point = (i64, i64);

// ---------------------------------------------------------------------------------------
// Exact predicates.

/// Sign of the orientation determinant: > 0 when `a, b, c` turn counter-clockwise.
pub fn orient(a: Point, b: Point, c: Point) -> i32 {
    let d = (b.0 - a.0) as i128 * (c.1 - a.1) as i128 - (b.1 - a.1) as i128 * (c.0 - a.0) as i128;
    d.signum() as i32
}

/// A signed 256-bit integer as four little-endian 64-bit limbs, two's complement; just enough
/// arithmetic for the in-circle determinant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct I256([u64; 4]);

impl I256 {
    const ZERO: I256 = I256([0; 4]);

    fn add(self, o: I256) -> I256 {
        let mut r = [0u64; 4];
        let mut carry = 0u64;
        for (i, limb) in r.iter_mut().enumerate() {
            let (s1, c1) = self.0[i].overflowing_add(o.0[i]);
            let (s2, c2) = s1.overflowing_add(carry);
            *limb = s2;
            carry = (c1 as u64) + (c2 as u64);
        }
        I256(r)
    }

    fn neg(self) -> I256 {
        let inv = I256([!self.0[0], !self.0[1], !self.0[2], !self.0[3]]);
        inv.add(I256([1, 0, 0, 0]))
    }

    /// Exact product of two `i128` values.
    fn mul(a: i128, b: i128) -> I256 {
        let negative = (a < 0) != (b < 0);
        let (x, y) = (a.unsigned_abs(), b.unsigned_abs());
        let (x0, x1) = (x as u64 as u128, (x >> 64) as u64 as u128);
        let (y0, y1) = (y as u64 as u128, (y >> 64) as u64 as u128);
        let mut r = [0u64; 4];
        // Schoolbook multiplication of 2-limb numbers with carries propagated limb by limb.
        let mut acc = [0u128; 4];
        let p00 = x0 * y0;
        let p01 = x0 * y1;
        let p10 = x1 * y0;
        let p11 = x1 * y1;
        acc[0] += p00 & 0xffff_ffff_ffff_ffff;
        acc[1] += (p00 >> 64) + (p01 & 0xffff_ffff_ffff_ffff) + (p10 & 0xffff_ffff_ffff_ffff);
        acc[2] += (p01 >> 64) + (p10 >> 64) + (p11 & 0xffff_ffff_ffff_ffff);
        acc[3] += p11 >> 64;
        let mut carry = 0u128;
        for i in 0..4 {
            let v = acc[i] + carry;
            r[i] = v as u64;
            carry = v >> 64;
        }
        let m = I256(r);
        if negative {
            m.neg()
        } else {
            m
        }
    }

    fn signum(self) -> i32 {
        if self == I256::ZERO {
            0
        } else if self.0[3] >> 63 == 1 {
            -1
        } else {
            1
        }
    }
}

/// Sign of the in-circle determinant: > 0 when `d` lies strictly inside the circle through
/// the counter-clockwise triangle `a, b, c`, 0 when the four points are cocircular.
pub fn incircle(a: Point, b: Point, c: Point, d: Point) -> i32 {
    let (adx, ady) = ((a.0 - d.0) as i128, (a.1 - d.1) as i128);
    let (bdx, bdy) = ((b.0 - d.0) as i128, (b.1 - d.1) as i128);
    let (cdx, cdy) = ((c.0 - d.0) as i128, (c.1 - d.1) as i128);
    // |coordinates| < 2^53: lifts and 2×2 minors stay below 2^107, products below 2^214.
    let alift = adx * adx + ady * ady;
    let blift = bdx * bdx + bdy * bdy;
    let clift = cdx * cdx + cdy * cdy;
    let t1 = I256::mul(alift, bdx * cdy - cdx * bdy);
    let t2 = I256::mul(blift, cdx * ady - adx * cdy);
    let t3 = I256::mul(clift, adx * bdy - bdx * ady);
    t1.add(t2).add(t3).signum()
}

// ---------------------------------------------------------------------------------------
// Triangulation.

/// Why points cannot be triangulated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriangulationError {
    /// Two points coincide.
    DuplicatePoint(usize, usize),
    /// All points lie on one line (or there are fewer than 3).
    Collinear,
    /// A coordinate is negative or not below 2⁵³.
    OutOfRange(usize),
}

const COORD_LIMIT: i64 = 1 << 53;

/// The Delaunay triangulation of `points` as counter-clockwise triangles of point indices.
pub fn delaunay(points: &[Point]) -> Result<Vec<[usize; 3]>, TriangulationError> {
    for (i, p) in points.iter().enumerate() {
        if !(0..COORD_LIMIT).contains(&p.0) || !(0..COORD_LIMIT).contains(&p.1) {
            return Err(TriangulationError::OutOfRange(i));
        }
    }
    let n = points.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| points[i]);
    for w in order.windows(2) {
        if points[w[0]] == points[w[1]] {
            return Err(TriangulationError::DuplicatePoint(
                w[0].min(w[1]),
                w[0].max(w[1]),
            ));
        }
    }
    let p = |i: usize| points[i];
    // First point not collinear with the first two (in sweep order).
    if n < 3 {
        return Err(TriangulationError::Collinear);
    }
    let k = (2..n)
        .find(|&k| orient(p(order[0]), p(order[1]), p(order[k])) != 0)
        .ok_or(TriangulationError::Collinear)?;
    let mut tris: Vec<[usize; 3]> = Vec::with_capacity(2 * n);
    let apex = order[k];
    let ccw = orient(p(order[0]), p(order[1]), p(apex)) > 0;
    // Fan from the apex over the collinear chain order[0..k].
    for w in order[..k].windows(2) {
        tris.push(if ccw {
            [w[0], w[1], apex]
        } else {
            [w[1], w[0], apex]
        });
    }
    // Hull as a counter-clockwise cycle of point indices.
    let mut hull: Vec<usize> = if ccw {
        order[..k].iter().copied().chain([apex]).collect()
    } else {
        order[..k].iter().rev().copied().chain([apex]).collect()
    };
    for &q in &order[k + 1..] {
        let h = hull.len();
        // Hull edge (hull[i], hull[i+1]) is visible when q is strictly to its right.
        let visible: Vec<bool> = (0..h)
            .map(|i| orient(p(hull[i]), p(hull[(i + 1) % h]), p(q)) < 0)
            .collect();
        // q is lexicographically beyond every point so far, hence strictly outside the hull:
        // the visible edges form one non-empty circular run. Find where it starts.
        let start = (0..h)
            .find(|&i| visible[i] && !visible[(i + h - 1) % h])
            .expect("a point outside a convex hull sees a run of its edges");
        let mut end = start;
        while visible[end % h] {
            let (a, b) = (hull[end % h], hull[(end + 1) % h]);
            tris.push([b, a, q]);
            end += 1;
        }
        // Replace hull[start+1 .. end] (the vertices strictly inside the run) by q.
        let first = hull[start];
        let last = hull[end % h];
        let mut new_hull = Vec::with_capacity(h + 1);
        new_hull.push(first);
        new_hull.push(q);
        let mut i = end % h;
        while hull[i] != first {
            new_hull.push(hull[i]);
            i = (i + 1) % h;
        }
        debug_assert_eq!(new_hull[2], last);
        hull = new_hull;
    }
    lawson_flip(points, &mut tris);
    Ok(tris)
}

/// Flips edges that are not locally Delaunay until none is left.
fn lawson_flip(points: &[Point], tris: &mut [[usize; 3]]) {
    // Directed edge (u, v) of a counter-clockwise triangle → (triangle, opposite vertex slot).
    let mut owner: HashMap<(usize, usize), usize> = HashMap::with_capacity(3 * tris.len());
    for (t, tri) in tris.iter().enumerate() {
        for s in 0..3 {
            owner.insert((tri[s], tri[(s + 1) % 3]), t);
        }
    }
    let mut stack: Vec<(usize, usize)> = owner.keys().copied().filter(|&(u, v)| u < v).collect();
    stack.sort_unstable();
    while let Some((u, v)) = stack.pop() {
        let (Some(&t1), Some(&t2)) = (owner.get(&(u, v)), owner.get(&(v, u))) else {
            continue; // a hull edge, or an edge that was flipped away
        };
        let opposite = |t: &[usize; 3], a: usize, b: usize| {
            *t.iter()
                .find(|&&x| x != a && x != b)
                .expect("triangle has a third vertex")
        };
        // t1 = (u, v, c) counter-clockwise, t2 = (v, u, d).
        let c = opposite(&tris[t1], u, v);
        let d = opposite(&tris[t2], u, v);
        if incircle(points[u], points[v], points[c], points[d]) <= 0 {
            continue;
        }
        // Quad u, d, v, c (counter-clockwise) gets the diagonal c–d.
        for t in [t1, t2] {
            let tri = tris[t];
            for s in 0..3 {
                owner.remove(&(tri[s], tri[(s + 1) % 3]));
            }
        }
        tris[t1] = [u, d, c];
        tris[t2] = [d, v, c];
        for t in [t1, t2] {
            let tri = tris[t];
            for s in 0..3 {
                owner.insert((tri[s], tri[(s + 1) % 3]), t);
            }
        }
        for (a, b) in [(u, d), (d, v), (v, c), (c, u)] {
            stack.push((a.min(b), a.max(b)));
        }
    }
}

/// The graph of a triangulation: every triangle side is an edge.
pub fn triangulation_graph(n: usize, tris: &[[usize; 3]]) -> Graph {
    let edges = tris
        .iter()
        .flat_map(|t| [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])]);
    Graph::new_simplified(n, edges).expect("triangle vertices are point indices")
}

/// Number of points on the convex hull boundary (collinear boundary points included).
pub fn hull_size(points: &[Point]) -> usize {
    let mut idx: Vec<usize> = (0..points.len()).collect();
    idx.sort_by_key(|&i| points[i]);
    // Monotone chain keeping collinear boundary points.
    let mut lower: Vec<usize> = Vec::new();
    for &i in &idx {
        while lower.len() >= 2
            && orient(
                points[lower[lower.len() - 2]],
                points[lower[lower.len() - 1]],
                points[i],
            ) < 0
        {
            lower.pop();
        }
        lower.push(i);
    }
    let mut upper: Vec<usize> = Vec::new();
    for &i in idx.iter().rev() {
        while upper.len() >= 2
            && orient(
                points[upper[upper.len() - 2]],
                points[upper[upper.len() - 1]],
                points[i],
            ) < 0
        {
            upper.pop();
        }
        upper.push(i);
    }
    lower.len() + upper.len() - 2
}

/// Uniform points as numpy's `random_sample` draws them: integer multiples of 2⁻⁵³.
pub fn random_points(n: usize, rng: &mut ChaCha8Rng) -> Vec<Point> {
    (0..n)
        .map(|_| {
            (
                (rng.gen::<u64>() >> 11) as i64,
                (rng.gen::<u64>() >> 11) as i64,
            )
        })
        .collect()
}

impl PlanarParams {
    /// Generates the graphs (a point set that cannot be triangulated — duplicate or all
    /// collinear points, probability below 2⁻⁹⁰ — is redrawn).
    pub fn generate(&self, rng: &mut ChaCha8Rng) -> Result<Vec<Graph>, DatasetError> {
        check_range("planar: nodes", self.nodes)?;
        if self.nodes[0] < 3 {
            return Err(DatasetError::InvalidParameter(
                "planar: a triangulation needs at least 3 nodes".into(),
            ));
        }
        let mut out = Vec::with_capacity(self.graphs);
        while out.len() < self.graphs {
            let n = rng.gen_range(self.nodes[0]..=self.nodes[1]);
            let pts = random_points(n, rng);
            if let Ok(tris) = delaunay(&pts) {
                out.push(triangulation_graph(n, &tris));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn brute_force_is_delaunay(points: &[Point], tris: &[[usize; 3]]) -> bool {
        tris.iter().all(|t| {
            orient(points[t[0]], points[t[1]], points[t[2]]) > 0
                && (0..points.len()).all(|d| {
                    t.contains(&d)
                        || incircle(points[t[0]], points[t[1]], points[t[2]], points[d]) <= 0
                })
        })
    }

    #[test]
    fn predicates_exact_on_degenerate_input() {
        // Collinear and cocircular points far apart in magnitude: floating point gets these
        // wrong, exact integers do not.
        let big = (1i64 << 53) - 1;
        assert_eq!(orient((0, 0), (big, big), (big - 1, big - 1)), 0);
        assert_eq!(orient((0, 0), (big, big - 1), (big - 1, big - 2)), -1);
        // Four corners of an axis-aligned rectangle are cocircular.
        assert_eq!(incircle((0, 0), (big, 0), (big, big - 7), (0, big - 7)), 0);
        assert_eq!(incircle((0, 0), (big, 0), (big, big), (1, big - 1)), 1);
        assert_eq!(incircle((0, 0), (big, 0), (big, big), (-1, big + 1)), -1);
    }

    #[test]
    fn i256_arithmetic() {
        let m = I256::mul(-(1i128 << 107), 1i128 << 106);
        assert_eq!(m.signum(), -1);
        assert_eq!(m.add(I256::mul(1i128 << 107, 1i128 << 106)), I256::ZERO);
        let a = I256::mul(i128::MAX >> 20, 3);
        assert_eq!(a.add(a.neg()), I256::ZERO);
        assert_eq!(I256::mul(7, -6).add(I256::mul(6, 7)), I256::ZERO);
    }

    #[test]
    fn random_triangulations_are_delaunay() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for n in [3usize, 4, 5, 10, 64, 150] {
            for _ in 0..5 {
                let pts = random_points(n, &mut rng);
                let tris = delaunay(&pts).unwrap();
                assert!(brute_force_is_delaunay(&pts, &tris), "n = {n}");
                let h = hull_size(&pts);
                assert_eq!(tris.len(), 2 * n - 2 - h);
                assert_eq!(triangulation_graph(n, &tris).num_edges(), 3 * n - 3 - h);
            }
        }
    }

    #[test]
    fn degenerate_point_sets() {
        // A 5×5 lattice: many collinear and cocircular quadruples.
        let pts: Vec<Point> = (0..25)
            .map(|i| ((i % 5) as i64 * 1000, (i / 5) as i64 * 1000))
            .collect();
        let tris = delaunay(&pts).unwrap();
        assert!(brute_force_is_delaunay(&pts, &tris));
        assert_eq!(hull_size(&pts), 16);
        assert_eq!(triangulation_graph(25, &tris).num_edges(), 3 * 25 - 3 - 16);
        // Collinear start followed by off-line points, in both orientations.
        for sign in [1i64, -1] {
            let mut pts: Vec<Point> = (0..6).map(|i| (i * 10, 500)).collect();
            pts.push((25, 500 + sign * 40));
            pts.push((70, 500 - sign * 3));
            let tris = delaunay(&pts).unwrap();
            assert!(brute_force_is_delaunay(&pts, &tris));
            assert_eq!(tris.len(), 2 * pts.len() - 2 - hull_size(&pts));
        }
        assert_eq!(
            delaunay(&[(0, 0), (1, 1), (2, 2)]),
            Err(TriangulationError::Collinear)
        );
        assert_eq!(
            delaunay(&[(0, 0), (5, 1), (0, 0)]),
            Err(TriangulationError::DuplicatePoint(0, 2))
        );
        assert_eq!(
            delaunay(&[(0, -1), (5, 1), (0, 0)]),
            Err(TriangulationError::OutOfRange(0))
        );
    }
}
