//! Bit-exact re-implementations of the two random number generators that the reference
//! dataset code seeds explicitly: CPython's `random.Random(seed)` (which networkx uses for
//! `seed=<int>`) and torch's CPU generator after `torch.Generator().manual_seed(seed)`
//! (which `torch.randperm` / `random_split` use in SPECTRE and DiGress).
//!
//! Both are the Mersenne Twister MT19937 (Matsumoto & Nishimura 1998); they differ only in
//! how an integer seed becomes the initial state and how outputs become floats or indices.
//! With them, every step of the reference generators that was seeded reproduces exactly:
//! GRAN's lobster graphs (`nx.random_lobster(80, 0.7, 0.7, seed=s)`), the intra-community
//! graphs of the EDP-GNN/GDSS community generator (`nx.gnp_random_graph(c, 0.7, seed=i)`),
//! and the SPECTRE/DiGress random splits. Steps that used numpy's unseeded global state cannot
//! be reproduced by anyone and use our own seeded generator instead.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The MT19937 state and its 32-bit output function (reference `genrand_int32`).
#[derive(Clone)]
pub struct Mt19937 {
    mt: [u32; N],
    mti: usize,
}

impl std::fmt::Debug for Mt19937 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mt19937 {{ mti: {} }}", self.mti)
    }
}

impl Mt19937 {
    /// Reference `init_genrand(s)`: the state used by C++ `std::mt19937(s)` and torch.
    pub fn new_genrand(seed: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, mti: N }
    }

    /// Reference `init_by_array(key)`: the state CPython's `random.seed(int)` builds.
    pub fn new_by_array(key: &[u32]) -> Self {
        let mut s = Mt19937::new_genrand(19_650_218);
        let mt = &mut s.mt;
        let (mut i, mut j) = (1usize, 0usize);
        let klen = key.len().max(1);
        for _ in 0..N.max(klen) {
            let kj = key.get(j).copied().unwrap_or(0);
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(kj)
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= klen {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        s
    }

    /// Next 32-bit output (reference `genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.mti >= N {
            let mag01 = [0u32, MATRIX_A];
            for kk in 0..N {
                let y = (self.mt[kk] & UPPER_MASK) | (self.mt[(kk + 1) % N] & LOWER_MASK);
                self.mt[kk] = self.mt[(kk + M) % N] ^ (y >> 1) ^ mag01[(y & 1) as usize];
            }
            self.mti = 0;
        }
        let mut y = self.mt[self.mti];
        self.mti += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }
}

/// CPython's `random.Random(seed)` for a non-negative integer seed (the generator networkx
/// creates for `seed=<int>` through `py_random_state`).
#[derive(Debug, Clone)]
pub struct PyRandom {
    mt: Mt19937,
}

impl PyRandom {
    /// `random.Random(seed)`: the seed's 32-bit words, least significant first, go to
    /// `init_by_array` (CPython `random_seed`; 0 gives the one-word key `[0]`).
    pub fn new(seed: u64) -> Self {
        let key: Vec<u32> = if seed >> 32 == 0 {
            vec![seed as u32]
        } else {
            vec![seed as u32, (seed >> 32) as u32]
        };
        PyRandom {
            mt: Mt19937::new_by_array(&key),
        }
    }

    /// `random.random()`: a multiple of 2⁻⁵³ in [0, 1) built from two 32-bit outputs
    /// (CPython `random_random`).
    pub fn random(&mut self) -> f64 {
        let a = (self.mt.next_u32() >> 5) as f64;
        let b = (self.mt.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `random.getrandbits(k)` for `1 <= k <= 32`.
    fn getrandbits32(&mut self, k: u32) -> u32 {
        debug_assert!((1..=32).contains(&k));
        self.mt.next_u32() >> (32 - k)
    }

    /// `random._randbelow(n)` for `1 <= n <= 2³²` (rejection sampling on `n.bit_length()`
    /// bits), which `random.choice` and `random.randrange` use.
    pub fn randbelow(&mut self, n: u64) -> u64 {
        assert!(
            (1..=1 << 32).contains(&n),
            "randbelow supports 1 <= n <= 2^32"
        );
        let k = 64 - n.leading_zeros();
        loop {
            let r = if k == 33 {
                // n == 2^32: getrandbits(33) takes two words; not needed by any recipe.
                let lo = self.mt.next_u32() as u64;
                let hi = (self.mt.next_u32() >> 31) as u64;
                lo | (hi << 32)
            } else {
                self.getrandbits32(k) as u64
            };
            if r < n {
                return r;
            }
        }
    }
}

/// torch's CPU generator after `torch.Generator().manual_seed(seed)` (`at::mt19937` seeded
/// with the low 32 bits of the seed), enough of it for `torch.randperm`.
#[derive(Debug, Clone)]
pub struct TorchGenerator {
    mt: Mt19937,
}

impl TorchGenerator {
    /// `torch.Generator().manual_seed(seed)`.
    pub fn manual_seed(seed: u64) -> Self {
        TorchGenerator {
            mt: Mt19937::new_genrand(seed as u32),
        }
    }

    /// `torch.randperm(n, generator=g)` on the CPU for `n < 2³²/20` (ATen `randperm_cpu`:
    /// a forward Fisher–Yates shuffle with `random() % (n - i)`).
    pub fn randperm(&mut self, n: usize) -> Vec<usize> {
        assert!(
            (n as u64) < u32::MAX as u64 / 20,
            "randperm is only reproduced for n < 2^32/20"
        );
        let mut r: Vec<usize> = (0..n).collect();
        for i in 0..n.saturating_sub(1) {
            let z = (self.mt.next_u32() as u64 % (n - i) as u64) as usize;
            r.swap(i, i + z);
        }
        r
    }
}

/// networkx `gnp_random_graph(n, p, seed=<int>)` (the non-fast G(n, p) generator): one
/// `random()` per pair in `itertools.combinations(range(n), 2)` order, edge when `< p`.
pub fn nx_gnp_random_graph(n: usize, p: f64, seed: u64) -> Vec<(usize, usize)> {
    let mut edges = Vec::new();
    if p <= 0.0 {
        return edges;
    }
    if p >= 1.0 {
        for u in 0..n {
            for v in u + 1..n {
                edges.push((u, v));
            }
        }
        return edges;
    }
    let mut rng = PyRandom::new(seed);
    for u in 0..n {
        for v in u + 1..n {
            if rng.random() < p {
                edges.push((u, v));
            }
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_reference_outputs() {
        // The reference mt19937ar.c test vector: init_by_array({0x123, 0x234, 0x345, 0x456}).
        let mut mt = Mt19937::new_by_array(&[0x123, 0x234, 0x345, 0x456]);
        let first: Vec<u32> = (0..5).map(|_| mt.next_u32()).collect();
        assert_eq!(
            first,
            vec![
                1_067_595_299,
                955_945_823,
                477_289_528,
                4_107_218_783,
                4_228_976_476
            ]
        );
        // std::mt19937 default seed 5489: the 10000th output is 4123659995 (C++ standard).
        let mut mt = Mt19937::new_genrand(5489);
        let mut last = 0;
        for _ in 0..10_000 {
            last = mt.next_u32();
        }
        assert_eq!(last, 4_123_659_995);
    }

    #[test]
    fn python_random_matches_cpython() {
        // CPython 3.11: random.Random(s).random() for s = 0, 1, 1234, 2**40 + 5.
        let cases: [(u64, [f64; 3]); 4] = [
            (
                0,
                [0.8444218515250481, 0.7579544029403025, 0.420571580830845],
            ),
            (
                1,
                [0.13436424411240122, 0.8474337369372327, 0.763774618976614],
            ),
            (
                1234,
                [0.9664535356921388, 0.4407325991753527, 0.007491470058587191],
            ),
            (
                (1 << 40) + 5,
                [0.5043802970418443, 0.2686044399723282, 0.9257865475671585],
            ),
        ];
        for (seed, want) in cases {
            let mut r = PyRandom::new(seed);
            for w in want {
                assert_eq!(r.random().to_bits(), w.to_bits(), "seed {seed}");
            }
        }
        // [random.Random(7).randrange(64) for _ in range(6)]
        let mut r = PyRandom::new(7);
        let got: Vec<u64> = (0..6).map(|_| r.randbelow(64)).collect();
        assert_eq!(got, vec![41, 19, 50, 6, 9, 12]);
    }

    #[test]
    fn torch_randperm_matches_torch() {
        // torch 2.11: torch.randperm(10, generator=torch.Generator().manual_seed(1234)).
        let mut g = TorchGenerator::manual_seed(1234);
        assert_eq!(g.randperm(10), vec![5, 4, 8, 2, 6, 9, 1, 7, 0, 3]);
        let mut g = TorchGenerator::manual_seed(1234);
        let p = g.randperm(200);
        assert_eq!(
            &p[..20],
            &[175, 122, 68, 174, 4, 39, 186, 7, 87, 51, 153, 21, 162, 46, 89, 167, 100, 2, 80, 75]
        );
        // manual_seed(0) (DiGress's split) and a seed above 2^32 (only its low word is used).
        let p = TorchGenerator::manual_seed(0).randperm(200);
        assert_eq!(&p[..10], &[44, 57, 157, 64, 19, 74, 65, 10, 81, 118]);
        let p = TorchGenerator::manual_seed((1 << 33) + 7).randperm(50);
        assert_eq!(&p[..10], &[15, 7, 27, 19, 5, 47, 17, 3, 18, 41]);
    }

    #[test]
    fn gnp_matches_networkx() {
        // networkx 3.6: sorted(nx.gnp_random_graph(6, 0.7, seed=0).edges())
        let e = nx_gnp_random_graph(6, 0.7, 0);
        assert_eq!(
            e,
            vec![
                (0, 3),
                (0, 4),
                (0, 5),
                (1, 2),
                (1, 4),
                (1, 5),
                (2, 3),
                (2, 5),
                (3, 4),
                (4, 5)
            ]
        );
    }
}
