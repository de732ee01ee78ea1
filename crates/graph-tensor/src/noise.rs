//! Seeded randomness for models: [`NoiseSource`] and [`derive_seed`].
//!
//! Every random number a model uses (training noise, diffusion times, sampler noise, dropout
//! masks) comes from a [`NoiseSource`], never from torch's global generator. Noise is drawn on
//! the CPU from `ChaCha8Rng` streams and moved to the model's device, so it is identical on
//! any thread count and for any device, and it is reproducible after a resume.
//!
//! A source holds one stream per graph of the batch (methods without a prefix) and one shared
//! stream (`shared_*`). Per-graph streams make a graph's noise independent of which other
//! graphs share its batch: a sampler that draws all its noise per graph gives the same graphs
//! for any batch size. The shared stream is for noise whose shape has no graph axis (e.g.
//! dropout on a reshaped tensor); it depends on the batch, so samplers should not use it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tch::{Device, Kind, Tensor};

/// A seed derived from `seed` and a path of stream ids (SplitMix64 mixing), e.g.
/// `derive_seed(seed, &[step, graph])`. Distinct paths give unrelated streams.
pub fn derive_seed(seed: u64, path: &[u64]) -> u64 {
    let mut h = splitmix(seed ^ 0x6a09_e667_f3bc_c908);
    for &p in path {
        h = splitmix(h ^ splitmix(p.wrapping_add(0x9e37_79b9_7f4a_7c15)));
    }
    h
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Stream id of the shared stream (distinct from every graph index).
const SHARED: u64 = u64::MAX;

/// Seeded noise for one batch: one stream per graph plus a shared stream. See the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct NoiseSource {
    graphs: Vec<ChaCha8Rng>,
    shared: ChaCha8Rng,
    device: Device,
}

impl NoiseSource {
    /// One stream per graph, graph `i` seeded with `seeds[i]`; the shared stream is seeded
    /// from all of them. Samplers use this with the per-graph seeds they are given.
    pub fn from_seeds(seeds: &[u64], device: Device) -> Self {
        let shared_seed = seeds
            .iter()
            .fold(derive_seed(0, &[SHARED]), |h, &s| derive_seed(h, &[s]));
        NoiseSource {
            graphs: seeds
                .iter()
                .map(|&s| ChaCha8Rng::seed_from_u64(s))
                .collect(),
            shared: ChaCha8Rng::seed_from_u64(shared_seed),
            device,
        }
    }

    /// The noise of training step `step` for a batch of `batch_size` graphs: graph `i` uses
    /// `derive_seed(seed, &[step, i])`. A resumed run recreates exactly the same noise.
    pub fn for_step(seed: u64, step: u64, batch_size: usize, device: Device) -> Self {
        NoiseSource {
            graphs: (0..batch_size)
                .map(|i| ChaCha8Rng::seed_from_u64(derive_seed(seed, &[step, i as u64])))
                .collect(),
            shared: ChaCha8Rng::seed_from_u64(derive_seed(seed, &[step, SHARED])),
            device,
        }
    }

    /// Number of per-graph streams `B`.
    pub fn batch_size(&self) -> usize {
        self.graphs.len()
    }

    /// Device the tensors are put on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The random stream of graph `i` (for draws that are not tensors, e.g. a time step).
    ///
    /// # Panics
    /// If `i >= batch_size()`.
    pub fn graph_rng(&mut self, i: usize) -> &mut ChaCha8Rng {
        &mut self.graphs[i]
    }

    /// Every graph's random stream, graph `i`'s at `i`: for draws that run graph by graph
    /// on several threads (each stream's numbers do not depend on the order of the graphs).
    pub fn graph_rngs(&mut self) -> &mut [ChaCha8Rng] {
        &mut self.graphs
    }

    /// The shared stream.
    pub fn shared_rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.shared
    }

    fn per_graph(&mut self, shape: &[i64], mut draw: impl FnMut(&mut ChaCha8Rng) -> f32) -> Tensor {
        let per: usize = shape.iter().map(|&d| d.max(0) as usize).product();
        let mut data = Vec::with_capacity(per * self.graphs.len());
        for rng in &mut self.graphs {
            data.extend((0..per).map(|_| draw(rng)));
        }
        let mut full = vec![self.graphs.len() as i64];
        full.extend_from_slice(shape);
        Tensor::from_slice(&data)
            .view(full.as_slice())
            .to_device(self.device)
    }

    fn per_graph_sym(
        &mut self,
        lead: &[i64],
        n: i64,
        mut draw: impl FnMut(&mut ChaCha8Rng) -> f32,
    ) -> Tensor {
        let n_u = n.max(0) as usize;
        let blocks: usize = lead.iter().map(|&d| d.max(0) as usize).product();
        let mut data = vec![0f32; self.graphs.len() * blocks * n_u * n_u];
        let mut k = 0;
        for rng in &mut self.graphs {
            for _ in 0..blocks {
                let m = &mut data[k * n_u * n_u..(k + 1) * n_u * n_u];
                for u in 0..n_u {
                    for v in u + 1..n_u {
                        let x = draw(rng);
                        m[u * n_u + v] = x;
                        m[v * n_u + u] = x;
                    }
                }
                k += 1;
            }
        }
        let mut full = vec![self.graphs.len() as i64];
        full.extend_from_slice(lead);
        full.extend_from_slice(&[n, n]);
        Tensor::from_slice(&data)
            .view(full.as_slice())
            .to_device(self.device)
    }

    /// Standard normal noise `[B, shape...]` f32, graph `b`'s slice from stream `b`.
    pub fn randn(&mut self, shape: &[i64]) -> Tensor {
        self.per_graph(shape, |r| r.sample(StandardNormal))
    }

    /// Uniform noise in `[0, 1)`, `[B, shape...]` f32.
    pub fn rand(&mut self, shape: &[i64]) -> Tensor {
        self.per_graph(shape, |r| r.gen::<f32>())
    }

    /// Symmetric standard normal noise `[B, N, N]` with a zero diagonal: the strict upper
    /// triangle is drawn and mirrored (GraphScoreMatching `add_gaussian_noise`; score_sde's
    /// symmetric prior is the same in distribution).
    pub fn randn_sym(&mut self, n: i64) -> Tensor {
        self.per_graph_sym(&[], n, |r| r.sample(StandardNormal))
    }

    /// Symmetric standard normal noise `[B, lead..., N, N]` (e.g. `lead = [L]` for one matrix
    /// per noise level), zero diagonal.
    pub fn randn_sym_with(&mut self, lead: &[i64], n: i64) -> Tensor {
        self.per_graph_sym(lead, n, |r| r.sample(StandardNormal))
    }

    /// Symmetric uniform noise in `[0, 1)`, `[B, lead..., N, N]`, zero diagonal.
    pub fn rand_sym_with(&mut self, lead: &[i64], n: i64) -> Tensor {
        self.per_graph_sym(lead, n, |r| r.gen::<f32>())
    }

    /// Bernoulli draws `[B, ...]` f32 with success probabilities `p` (same shape, any device):
    /// `1` where a fresh uniform is `< p`.
    pub fn bernoulli(&mut self, p: &Tensor) -> Tensor {
        let size = p.size();
        let u = self.rand(&size[1..]).to_device(p.device());
        u.lt_tensor(p).to_kind(Kind::Float)
    }

    /// Symmetric Bernoulli draws for `p: [B, lead..., N, N]`: the strict upper triangle is
    /// drawn (reading `p` there) and mirrored; the diagonal is 0.
    pub fn bernoulli_sym(&mut self, p: &Tensor) -> Tensor {
        let size = p.size();
        let n = size[size.len() - 1];
        let u = self
            .rand_sym_with(&size[1..size.len() - 2], n)
            .to_device(p.device());
        let up = u.lt_tensor(&p.triu(1)).to_kind(Kind::Float).triu(1);
        let t = up.transpose(-1, -2);
        up + t
    }

    /// One uniform integer in `0..high` per graph, `[B]` i64 (e.g. a discrete time step).
    ///
    /// # Panics
    /// If `high == 0`.
    pub fn randint(&mut self, high: u64) -> Tensor {
        let v: Vec<i64> = self
            .graphs
            .iter_mut()
            .map(|r| r.gen_range(0..high) as i64)
            .collect();
        Tensor::from_slice(&v).to_device(self.device)
    }

    /// Standard normal noise of any shape from the shared stream.
    pub fn shared_randn(&mut self, shape: &[i64]) -> Tensor {
        let n: usize = shape.iter().map(|&d| d.max(0) as usize).product();
        let data: Vec<f32> = (0..n).map(|_| self.shared.sample(StandardNormal)).collect();
        Tensor::from_slice(&data).view(shape).to_device(self.device)
    }

    /// Uniform noise in `[0, 1)` of any shape from the shared stream.
    pub fn shared_rand(&mut self, shape: &[i64]) -> Tensor {
        let n: usize = shape.iter().map(|&d| d.max(0) as usize).product();
        let data: Vec<f32> = (0..n).map(|_| self.shared.gen::<f32>()).collect();
        Tensor::from_slice(&data).view(shape).to_device(self.device)
    }

    /// Inverted dropout with probability `p` from the shared stream (identity when `!train`
    /// or `p == 0`): use it instead of `Tensor::dropout`, which draws from torch's global
    /// generator and would make training irreproducible.
    pub fn dropout(&mut self, x: &Tensor, p: f64, train: bool) -> Tensor {
        if !train || p <= 0.0 {
            return x.shallow_clone();
        }
        let keep = self
            .shared_rand(&x.size())
            .to_device(x.device())
            .ge(p)
            .to_kind(x.kind());
        x * keep / (1.0 - p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    fn flat(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(&t.reshape([-1])).unwrap()
    }

    #[test]
    fn per_graph_streams_do_not_depend_on_the_batch() {
        let mut all = NoiseSource::from_seeds(&[11, 22, 33], Device::Cpu);
        let a = all.randn_sym(5);
        let mut one = NoiseSource::from_seeds(&[22], Device::Cpu);
        let b = one.randn_sym(5);
        assert_eq!(flat(&a.get(1)), flat(&b.get(0)));
        // later draws stay aligned too
        assert_eq!(flat(&all.rand(&[4]).get(1)), flat(&one.rand(&[4]).get(0)));
    }

    #[test]
    fn symmetric_noise_is_symmetric_with_zero_diagonal_and_unit_variance() {
        let mut s = NoiseSource::for_step(7, 3, 4, Device::Cpu);
        let x = s.randn_sym_with(&[2], 60);
        assert_eq!(x.size(), vec![4, 2, 60, 60]);
        let asym = (&x - x.transpose(-1, -2)).abs().max().double_value(&[]);
        assert_eq!(asym, 0.0);
        let diag = x.diagonal(0, -2, -1).abs().max().double_value(&[]);
        assert_eq!(diag, 0.0);
        let up = flat(&x.triu(1));
        let vals: Vec<f64> = up
            .iter()
            .filter(|v| **v != 0.0)
            .map(|&v| f64::from(v))
            .collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert_relative_eq!(var, 1.0, epsilon = 0.03);
    }

    #[test]
    fn steps_and_seeds_give_distinct_reproducible_streams() {
        let a = NoiseSource::for_step(1, 5, 2, Device::Cpu).randn(&[8]);
        let b = NoiseSource::for_step(1, 5, 2, Device::Cpu).randn(&[8]);
        let c = NoiseSource::for_step(1, 6, 2, Device::Cpu).randn(&[8]);
        let d = NoiseSource::for_step(2, 5, 2, Device::Cpu).randn(&[8]);
        assert_eq!(flat(&a), flat(&b));
        assert_ne!(flat(&a), flat(&c));
        assert_ne!(flat(&a), flat(&d));
        assert_ne!(flat(&a.get(0)), flat(&a.get(1)));
    }

    #[test]
    fn bernoulli_frequencies_and_symmetry() {
        let mut s = NoiseSource::from_seeds(&[1, 2], Device::Cpu);
        let p = Tensor::full([2, 100, 100], 0.3, (Kind::Float, Device::Cpu));
        let x = s.bernoulli(&p);
        assert_relative_eq!(x.mean(Kind::Float).double_value(&[]), 0.3, epsilon = 0.02);
        let y = s.bernoulli_sym(&p);
        assert_eq!(
            (&y - y.transpose(-1, -2)).abs().max().double_value(&[]),
            0.0
        );
        assert_eq!(y.diagonal(0, -2, -1).abs().max().double_value(&[]), 0.0);
        let frac = y.sum(Kind::Float).double_value(&[]) / (2.0 * 100.0 * 99.0);
        assert_relative_eq!(frac, 0.3, epsilon = 0.02);
        let t = s.randint(4);
        assert_eq!(t.size(), vec![2]);
        assert!(flat(&t.to_kind(Kind::Float))
            .iter()
            .all(|&v| (0.0..4.0).contains(&v)));
    }

    #[test]
    fn dropout_keeps_expectation() {
        let mut s = NoiseSource::for_step(0, 0, 1, Device::Cpu);
        let x = Tensor::ones([100_000], (Kind::Float, Device::Cpu));
        let y = s.dropout(&x, 0.1, true);
        assert_relative_eq!(y.mean(Kind::Float).double_value(&[]), 1.0, epsilon = 0.01);
        let zeros = y
            .eq(0.0)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        assert_relative_eq!(zeros, 0.1, epsilon = 0.01);
        assert_eq!(flat(&s.dropout(&x, 0.1, false)), flat(&x));
    }
}
