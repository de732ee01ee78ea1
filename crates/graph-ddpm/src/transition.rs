//! The forward process: every node pair of a real node is a two-state variable (edge or no
//! edge) flipped by symmetric, doubly stochastic transition matrices (Haefeli et al., 2022,
//! §3; official `utils/graph_utils.py` `discretenoise_single`, `sample_ppgn_vlb.py`).
//!
//! One step multiplies the one-hot state by
//! `Q_t = [[1−β_t, β_t], [β_t, 1−β_t]]`; after `t` steps the state has flipped with
//! probability `β̄_t`, where `1 − 2β̄_t = Π_{s≤t} (1 − 2β_s)`, so
//! `Q̄_t = [[1−β̄_t, β̄_t], [β̄_t, 1−β̄_t]]`. Every `Q_t` is doubly stochastic, so the stationary
//! distribution is Bernoulli(½) on every pair; a schedule that reaches `β̄_T = ½` ends
//! exactly there.
//!
//! A schedule is a list `β̄_0 = 0 ≤ β̄_1 ≤ … ≤ β̄_T ≤ ½` ([`Schedule`]); [`DoublyStochastic`]
//! derives the one-step `β_t` and the exact posterior `q(A_{t−1} | A_t, A_0)` from it, so any
//! doubly stochastic schedule plugs into the losses and samplers.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{config_err, Result};

/// How the cumulative flip probability `β̄_t` grows over the `T` steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The official schedule ("noisetype: switched"): `β̄_t` linear from 0 to ½, read from a
    /// float32 `torch.linspace(0, 0.5, T + 1)` as the official code does (exactly `t / 2T`
    /// when `T` is a power of two).
    Linear {},
    /// `β̄_t = ½ − ½·cos(π t / 2T)`: the cosine branch of the official `ppgn_vlb.py`
    /// `eval_loss` (present in the code, never selected by its configs).
    Cosine {},
    /// Explicit values `β̄_1 … β̄_T` (`β̄_0 = 0` is implied): strictly increasing, in
    /// `(0, ½]`, and below ½ except possibly the last.
    Explicit {
        /// `β̄_1 … β̄_T`.
        beta_bar: Vec<f64>,
    },
}

impl Default for Schedule {
    /// The official linear schedule.
    fn default() -> Self {
        Schedule::Linear {}
    }
}

/// `torch.linspace(start, end, steps)` in float32 as libtorch 2.11's CPU kernel computes it
/// on x86-64: `step = (end − start)/(steps − 1)` in float32, then the first half
/// `start + step·i` and the second half `end − step·(steps − 1 − i)`, each a fused
/// multiply-add rounded once to float32 (checked against the official schedule tables of
/// the parity fixture, where a plain float32 multiply-then-add is up to 3e-8 off). Returned
/// as doubles, as the official code reads it back with `.tolist()`.
pub fn torch_linspace_f32(start: f64, end: f64, steps: usize) -> Vec<f64> {
    match steps {
        0 => Vec::new(),
        1 => vec![f64::from(start as f32)],
        _ => {
            let (s, e) = (f64::from(start as f32), f64::from(end as f32));
            let step = f64::from((e as f32 - s as f32) / (steps - 1) as f32);
            let half = steps / 2;
            (0..steps)
                .map(|i| {
                    let v = if i < half {
                        step.mul_add(i as f64, s)
                    } else {
                        (-step).mul_add((steps - 1 - i) as f64, e)
                    };
                    f64::from(v as f32)
                })
                .collect()
        }
    }
}

impl Schedule {
    /// `β̄_0 … β̄_T` for `steps = T` (unchecked; [`DoublyStochastic::new`] validates).
    pub fn beta_bar(&self, steps: usize) -> Vec<f64> {
        match self {
            Schedule::Linear {} => torch_linspace_f32(0.0, 0.5, steps + 1),
            Schedule::Cosine {} => (0..=steps)
                .map(|t| {
                    if t == steps {
                        0.5
                    } else {
                        let c = (t as f64 * std::f64::consts::PI / (2.0 * steps as f64)).cos();
                        (0.5 - 0.5 * c).clamp(0.0, 0.5)
                    }
                })
                .collect(),
            Schedule::Explicit { beta_bar } => std::iter::once(0.0)
                .chain(beta_bar.iter().copied())
                .collect(),
        }
    }
}

/// The doubly stochastic flip process of a schedule: `β̄_t`, the one-step `β_t`, the
/// matrices `Q_t` and `Q̄_t` and the exact posterior. Index `t` runs over `0..=T`; `t = 0` is
/// the clean data (`β̄_0 = β_0 = 0`).
#[derive(Clone, Debug, PartialEq)]
pub struct DoublyStochastic {
    beta_bar: Vec<f64>,
    beta: Vec<f64>,
}

impl DoublyStochastic {
    /// The process of `schedule` over `steps = T ≥ 1` steps. Errors name the config field
    /// (`timesteps`, `schedule.beta_bar[i]`).
    pub fn new(schedule: &Schedule, steps: usize) -> Result<Self> {
        if steps == 0 {
            return Err(config_err(
                "timesteps",
                "must be at least 1 (T = 0 has no steps)",
            ));
        }
        if let Schedule::Explicit { beta_bar } = schedule {
            if beta_bar.len() != steps {
                return Err(config_err(
                    "schedule.beta_bar",
                    format!(
                        "has {} entries (β̄_1 … β̄_T) but timesteps is {steps}",
                        beta_bar.len()
                    ),
                ));
            }
        }
        Self::from_beta_bar(schedule.beta_bar(steps))
    }

    /// The process with `β̄_0 … β̄_T` given (`β̄_0` must be 0).
    pub fn from_beta_bar(beta_bar: Vec<f64>) -> Result<Self> {
        let field = |t: usize| format!("schedule.beta_bar[{}]", t.max(1) - 1);
        if beta_bar.len() < 2 {
            return Err(config_err(
                "timesteps",
                "must be at least 1 (T = 0 has no steps)",
            ));
        }
        if beta_bar[0] != 0.0 {
            return Err(config_err("schedule", "β̄_0 must be 0 (the clean data)"));
        }
        let last = beta_bar.len() - 1;
        for (t, &b) in beta_bar.iter().enumerate().skip(1) {
            if !(b.is_finite() && b > 0.0 && b <= 0.5) {
                return Err(config_err(
                    field(t),
                    format!("β̄_{t} = {b} is outside (0, ½]: a flip probability of a doubly stochastic two-state process lies in [0, ½], and a step that flips nothing (β̄_t = 0 after t = 0) is not a step"),
                ));
            }
            if b <= beta_bar[t - 1] {
                return Err(config_err(
                    field(t),
                    format!(
                        "β̄_{t} = {b} is not above β̄_{} = {}: the cumulative flip probability must increase at every step (a step with β_t = 0 flips nothing)",
                        t - 1,
                        beta_bar[t - 1]
                    ),
                ));
            }
            if t < last && b >= 0.5 {
                return Err(config_err(
                    field(t),
                    format!("β̄_{t} = ½ before the last step: the chain is already at its stationary distribution and the later steps are undefined"),
                ));
            }
        }
        // One-step flips from 1 − 2β̄_t = (1 − 2β̄_{t−1})(1 − 2β_t):
        // β_t = (β̄_t − β̄_{t−1}) / (1 − 2β̄_{t−1}), β_0 = 0. The official `sigma_lin`
        // (ppgn_vlb.py, sample_ppgn_vlb.py) evaluates the same expression as
        // ((1 − β̄_t) − (1 − β̄_{t−1})) / (1 − 2(1 − β̄_{t−1})); for its schedules (β̄_t = t/2T,
        // T a power of two) both orders give the correctly rounded 1/(2(T − t + 1)), but the
        // official order loses digits to cancellation when β̄ is small.
        let beta = (0..beta_bar.len())
            .map(|t| {
                if t == 0 {
                    0.0
                } else {
                    (beta_bar[t] - beta_bar[t - 1]) / (1.0 - 2.0 * beta_bar[t - 1])
                }
            })
            .collect();
        Ok(Self { beta_bar, beta })
    }

    /// Number of steps `T`.
    pub fn num_steps(&self) -> usize {
        self.beta_bar.len() - 1
    }

    /// Cumulative flip probability `β̄_t`, `t ∈ 0..=T`.
    pub fn beta_bar(&self, t: usize) -> f64 {
        self.beta_bar[t]
    }

    /// One-step flip probability `β_t`, `t ∈ 0..=T`.
    pub fn beta(&self, t: usize) -> f64 {
        self.beta[t]
    }

    /// `β̄_0 … β̄_T`.
    pub fn beta_bars(&self) -> &[f64] {
        &self.beta_bar
    }

    /// `β_0 … β_T`.
    pub fn betas(&self) -> &[f64] {
        &self.beta
    }

    /// The one-step matrix `Q_t` (`[from][to]`), symmetric and doubly stochastic.
    pub fn q(&self, t: usize) -> [[f64; 2]; 2] {
        flip_matrix(self.beta[t])
    }

    /// The marginal matrix `Q̄_t = Q_1 ⋯ Q_t` (`[from][to]`).
    pub fn q_bar(&self, t: usize) -> [[f64; 2]; 2] {
        flip_matrix(self.beta_bar[t])
    }

    /// The exact posterior `q(A_{t−1} = 1 | A_t = a_t, A_0 = a_0)`, `t ∈ 1..=T`
    /// (Bayes: `Q_t[1, a_t] · Q̄_{t−1}[a_0, 1] / Q̄_t[a_0, a_t]`), evaluated as the official
    /// `m1·m2/div`.
    pub fn posterior(&self, t: usize, a_t: bool, a_0: bool) -> f64 {
        let levels = StepLevels::of(self, t);
        levels.posterior(a_t, a_0)
    }

    /// `[a_t][a_0] ↦ q(A_{t−1} = 1 | A_t = a_t, A_0 = a_0)`.
    pub fn posterior_table(&self, t: usize) -> [[f64; 2]; 2] {
        let mut out = [[0.0; 2]; 2];
        for (i, row) in out.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = self.posterior(t, i == 1, j == 1);
            }
        }
        out
    }
}

/// `torch.where(cond, a, b)` (tch's `where_self` takes the condition as its first argument
/// after `a`).
pub(crate) fn select(cond: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
    a.where_self(cond, b)
}

fn flip_matrix(p: f64) -> [[f64; 2]; 2] {
    [[1.0 - p, p], [p, 1.0 - p]]
}

/// The three numbers one reverse step `t → t−1` needs: `β̄_t`, `β_t` and `β̄_{t−1}`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLevels {
    /// `β̄_t`.
    pub beta_bar_t: f64,
    /// `β_t`.
    pub beta_t: f64,
    /// `β̄_{t−1}`.
    pub beta_bar_tm1: f64,
}

impl StepLevels {
    /// The levels of step `t ∈ 1..=T` of `process`.
    pub fn of(process: &DoublyStochastic, t: usize) -> Self {
        Self {
            beta_bar_t: process.beta_bar[t],
            beta_t: process.beta[t],
            beta_bar_tm1: process.beta_bar[t - 1],
        }
    }

    /// `q(A_{t−1} = 1 | A_t = a_t, A_0 = a_0)` for these levels.
    pub fn posterior(&self, a_t: bool, a_0: bool) -> f64 {
        let m1 = if a_t { 1.0 - self.beta_t } else { self.beta_t };
        let m2 = if a_0 {
            1.0 - self.beta_bar_tm1
        } else {
            self.beta_bar_tm1
        };
        let div = if a_t != a_0 {
            self.beta_bar_t
        } else {
            1.0 - self.beta_bar_t
        };
        m1 * m2 / div
    }
}

/// Per-graph step levels as `[B, 1, 1]` tensors of `kind` on `device`, for the elementwise
/// posterior of a batch whose graphs sit at different steps.
#[derive(Debug)]
pub struct LevelTensors {
    beta_bar_t: Vec<f64>,
    beta_t: Vec<f64>,
    beta_bar_tm1: Vec<f64>,
    kind: Kind,
    device: tch::Device,
}

impl LevelTensors {
    /// The levels of each graph of a batch.
    pub fn new(levels: &[StepLevels], kind: Kind, device: tch::Device) -> Self {
        Self {
            beta_bar_t: levels.iter().map(|l| l.beta_bar_t).collect(),
            beta_t: levels.iter().map(|l| l.beta_t).collect(),
            beta_bar_tm1: levels.iter().map(|l| l.beta_bar_tm1).collect(),
            kind,
            device,
        }
    }

    /// `[B, 1, 1]` tensor of `f(level)` per graph, each value rounded once to `kind` (the
    /// official code forms `1 − β` etc. as Python doubles and lets `torch.where` round them).
    fn col(&self, values: &[f64], f: impl Fn(f64) -> f64) -> Tensor {
        let v: Vec<f64> = values.iter().map(|&x| f(x)).collect();
        Tensor::from_slice(&v)
            .to_kind(self.kind)
            .to_device(self.device)
            .view([-1, 1, 1])
    }

    /// `post(A_t, a_0)` elementwise for a constant `a_0`, `a_t: [B, N, N]` 0/1, in the official
    /// operation order `m1·m2/div` (official `loss_func_kld`, sampler `take_step`).
    fn post_const(&self, a_t: &Tensor, a_0: bool) -> (Tensor, Tensor, Tensor) {
        let on = a_t.gt(0.5);
        let m1 = select(
            &on,
            &self.col(&self.beta_t, |b| 1.0 - b),
            &self.col(&self.beta_t, |b| b),
        );
        let m2 = if a_0 {
            self.col(&self.beta_bar_tm1, |b| 1.0 - b)
        } else {
            self.col(&self.beta_bar_tm1, |b| b)
        };
        // a_t XOR a_0
        let flipped = if a_0 { on.logical_not() } else { on };
        let div = select(
            &flipped,
            &self.col(&self.beta_bar_t, |b| b),
            &self.col(&self.beta_bar_t, |b| 1.0 - b),
        );
        (m1, m2, div)
    }

    /// The true posterior `q(A_{t−1} = 1 | A_t, A_0)` elementwise (`a_t`, `a_0`: `[B, N, N]`
    /// 0/1), as the official `loss_func_kld` computes its target.
    pub fn posterior(&self, a_t: &Tensor, a_0: &Tensor) -> Tensor {
        let on = a_t.gt(0.5);
        let m1 = select(
            &on,
            &self.col(&self.beta_t, |b| 1.0 - b),
            &self.col(&self.beta_t, |b| b),
        );
        let m2 = select(
            &a_0.gt(0.5),
            &self.col(&self.beta_bar_tm1, |b| 1.0 - b),
            &self.col(&self.beta_bar_tm1, |b| b),
        );
        let div = select(
            &on.logical_xor(&a_0.gt(0.5)),
            &self.col(&self.beta_bar_t, |b| b),
            &self.col(&self.beta_bar_t, |b| 1.0 - b),
        );
        m1 * m2 / div
    }

    /// The model's reverse step `p_θ(A_{t−1} = 1 | A_t) = Σ_a q(A_{t−1} = 1 | A_t, A_0 = a) ·
    /// p_θ(A_0 = a | A_t)`, where `p0 = p_θ(A_0 = 1 | A_t)` (`[B, N, N]`), computed as the
    /// official `(1 − P₀)·m1·m2/div + P₀·m1·m2/div`.
    pub fn mixture(&self, a_t: &Tensor, p0: &Tensor) -> Tensor {
        let (m1, m2, div) = self.post_const(a_t, false);
        let p = (1.0 - p0) * &m1 * m2 / div;
        let (m1, m2, div) = self.post_const(a_t, true);
        p + p0 * m1 * m2 / div
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index arithmetic over 2×2 matrices reads best as it is
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use proptest::prelude::*;

    fn linear(t: usize) -> DoublyStochastic {
        DoublyStochastic::new(&Schedule::Linear {}, t).unwrap()
    }

    fn matmul(a: [[f64; 2]; 2], b: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
        let mut c = [[0.0; 2]; 2];
        for i in 0..2 {
            for j in 0..2 {
                c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j];
            }
        }
        c
    }

    /// Explicit schedules: random increasing β̄ in (0, ½), the last one possibly ½.
    fn arb_process() -> impl Strategy<Value = DoublyStochastic> {
        (1usize..12, any::<bool>()).prop_flat_map(|(t, ends_at_half)| {
            proptest::collection::vec(1e-6f64..0.4999, t).prop_map(move |mut v| {
                v.sort_by(f64::total_cmp);
                // strictly increasing: spread ties apart
                for k in 1..v.len() {
                    if v[k] <= v[k - 1] {
                        v[k] = v[k - 1] + 1e-9;
                    }
                }
                if ends_at_half {
                    *v.last_mut().unwrap() = 0.5;
                }
                DoublyStochastic::new(&Schedule::Explicit { beta_bar: v }, t).unwrap()
            })
        })
    }

    fn arb_any_process() -> impl Strategy<Value = DoublyStochastic> {
        prop_oneof![
            (1usize..200).prop_map(linear),
            (1usize..200).prop_map(|t| DoublyStochastic::new(&Schedule::Cosine {}, t).unwrap()),
            arb_process(),
        ]
    }

    #[test]
    fn official_linear_schedule_values() {
        // β̄_t = t/2T and β_t = 1/(2(T − t + 1)) for powers of two (the fixture's README).
        for t_max in [32usize, 64, 128] {
            let p = linear(t_max);
            for t in 1..=t_max {
                assert_eq!(p.beta_bar(t), t as f64 / (2 * t_max) as f64);
                assert_abs_diff_eq!(
                    p.beta(t),
                    1.0 / (2.0 * (t_max - t + 1) as f64),
                    epsilon = 1e-16
                );
            }
            assert_eq!(p.beta(t_max), 0.5);
            let post = p.posterior_table(1);
            assert_eq!(post, [[0.0, 1.0], [0.0, 1.0]]);
        }
        // 33 points of a float32 linspace are not all exactly k/64 in general; for 65
        // points (T = 64) they are.
        let v = torch_linspace_f32(0.0, 0.5, 65);
        assert!(v.iter().enumerate().all(|(k, &x)| x == k as f64 / 128.0));
    }

    proptest! {
        #[test]
        fn matrices_are_doubly_stochastic(p in arb_any_process()) {
            for t in 0..=p.num_steps() {
                for m in [p.q(t), p.q_bar(t)] {
                    for i in 0..2 {
                        prop_assert!((m[i][0] + m[i][1] - 1.0).abs() < 1e-15);
                        prop_assert!((m[0][i] + m[1][i] - 1.0).abs() < 1e-15);
                        prop_assert!(m[i][0] >= 0.0 && m[i][1] >= 0.0);
                    }
                    prop_assert_eq!(m[0][1], m[1][0]);
                }
            }
        }

        #[test]
        fn q_bar_is_the_product_of_the_q(p in arb_any_process()) {
            let mut prod = [[1.0, 0.0], [0.0, 1.0]];
            for t in 1..=p.num_steps() {
                prod = matmul(prod, p.q(t));
                let want = p.q_bar(t);
                for i in 0..2 {
                    for j in 0..2 {
                        prop_assert!((prod[i][j] - want[i][j]).abs() < 1e-12,
                            "t {} [{}][{}]: product {} vs q_bar {}", t, i, j, prod[i][j], want[i][j]);
                    }
                }
                // 1 − 2β̄_t = Π (1 − 2β_s)
                prop_assert!((1.0 - 2.0 * p.beta_bar(t) - (prod[0][0] - prod[0][1])).abs() < 1e-12);
            }
        }

        #[test]
        fn posterior_is_a_distribution_and_bayes(p in arb_any_process()) {
            for t in 1..=p.num_steps() {
                for a_t in [false, true] {
                    for a_0 in [false, true] {
                        let q_bar = p.q_bar(t);
                        if q_bar[a_0 as usize][a_t as usize] == 0.0 {
                            continue; // impossible observation
                        }
                        let one = p.posterior(t, a_t, a_0);
                        // q(A_{t−1} = 0 | ·) by the same Bayes rule
                        let q = p.q(t);
                        let qb = p.q_bar(t - 1);
                        let zero = q[0][a_t as usize] * qb[a_0 as usize][0]
                            / q_bar[a_0 as usize][a_t as usize];
                        prop_assert!((one + zero - 1.0).abs() < 1e-12, "t {}: {} + {}", t, one, zero);
                        prop_assert!((-1e-15..=1.0 + 1e-12).contains(&one));
                    }
                }
            }
        }
    }

    /// The posterior equals a brute-force enumeration of every path `a_0 → a_1 → … → a_T`
    /// of the chain for small `T`: `P(a_{t−1} = 1 | a_t, a_0)` by summing path weights.
    #[test]
    fn posterior_matches_brute_force_enumeration() {
        let processes = [
            linear(1),
            linear(3),
            linear(6),
            DoublyStochastic::new(&Schedule::Cosine {}, 5).unwrap(),
            DoublyStochastic::new(
                &Schedule::Explicit {
                    beta_bar: vec![0.05, 0.1, 0.3, 0.31, 0.5],
                },
                5,
            )
            .unwrap(),
        ];
        for p in processes {
            let t_max = p.num_steps();
            for a0 in [0usize, 1] {
                // joint[t][a_{t-1}][a_t] summed over paths
                let mut joint = vec![[[0.0f64; 2]; 2]; t_max + 1];
                for path in 0u32..(1 << t_max) {
                    let states: Vec<usize> = std::iter::once(a0)
                        .chain((0..t_max).map(|k| ((path >> k) & 1) as usize))
                        .collect();
                    let w: f64 = (1..=t_max)
                        .map(|t| p.q(t)[states[t - 1]][states[t]])
                        .product();
                    for t in 1..=t_max {
                        joint[t][states[t - 1]][states[t]] += w;
                    }
                }
                for t in 1..=t_max {
                    for at in [0usize, 1] {
                        let total = joint[t][0][at] + joint[t][1][at];
                        if total == 0.0 {
                            continue;
                        }
                        let brute = joint[t][1][at] / total;
                        assert_abs_diff_eq!(
                            p.posterior(t, at == 1, a0 == 1),
                            brute,
                            epsilon = 1e-12
                        );
                        // the marginal flip probability is β̄_t
                        let flipped = joint[t][0][1 - a0] + joint[t][1][1 - a0];
                        assert_abs_diff_eq!(flipped, p.beta_bar(t), epsilon = 1e-12);
                    }
                }
            }
        }
    }

    /// The stationary distribution is Bernoulli(½): `π Q_t = π` for `π = (½, ½)`, and a
    /// schedule ending at `β̄_T = ½` forgets the data completely.
    #[test]
    fn stationary_distribution_is_bernoulli_half() {
        for p in [
            linear(32),
            DoublyStochastic::new(&Schedule::Cosine {}, 17).unwrap(),
        ] {
            for t in 1..=p.num_steps() {
                let q = p.q(t);
                for j in 0..2 {
                    assert_abs_diff_eq!(0.5 * q[0][j] + 0.5 * q[1][j], 0.5, epsilon = 1e-15);
                }
            }
            let end = p.q_bar(p.num_steps());
            assert_abs_diff_eq!(end[0][1], 0.5, epsilon = 1e-15);
            assert_abs_diff_eq!(end[1][1], 0.5, epsilon = 1e-15);
        }
    }

    #[test]
    fn invalid_schedules_are_errors_naming_the_field() {
        let err = |s: Schedule, t: usize| DoublyStochastic::new(&s, t).unwrap_err().to_string();
        assert!(err(Schedule::Linear {}, 0).contains("`timesteps`"));
        let e = err(
            Schedule::Explicit {
                beta_bar: vec![0.1, 0.6],
            },
            2,
        );
        assert!(
            e.contains("schedule.beta_bar[1]") && e.contains("outside (0, ½]"),
            "{e}"
        );
        let e = err(
            Schedule::Explicit {
                beta_bar: vec![-0.1, 0.5],
            },
            2,
        );
        assert!(e.contains("schedule.beta_bar[0]"), "{e}");
        let e = err(
            Schedule::Explicit {
                beta_bar: vec![0.3, 0.2],
            },
            2,
        );
        assert!(e.contains("must increase"), "{e}");
        let e = err(
            Schedule::Explicit {
                beta_bar: vec![0.5, 0.5],
            },
            2,
        );
        assert!(e.contains("before the last step"), "{e}");
        let e = err(
            Schedule::Explicit {
                beta_bar: vec![0.1, f64::NAN],
            },
            2,
        );
        assert!(e.contains("schedule.beta_bar[1]"), "{e}");
        let e = err(
            Schedule::Explicit {
                beta_bar: vec![0.1],
            },
            2,
        );
        assert!(e.contains("has 1 entries"), "{e}");
    }

    #[test]
    fn tensor_posterior_and_mixture_match_the_scalar_ones() {
        let p = linear(32);
        let ts = [1usize, 7, 16, 32];
        let levels: Vec<StepLevels> = ts.iter().map(|&t| StepLevels::of(&p, t)).collect();
        let lt = LevelTensors::new(&levels, Kind::Double, tch::Device::Cpu);
        // all four (a_t, a_0) combinations per graph
        let a_t = Tensor::from_slice(&[0.0f64, 0.0, 1.0, 1.0])
            .view([1, 2, 2])
            .repeat([4, 1, 1]);
        let a_0 = Tensor::from_slice(&[0.0f64, 1.0, 0.0, 1.0])
            .view([1, 2, 2])
            .repeat([4, 1, 1]);
        let q = lt.posterior(&a_t, &a_0);
        for (b, &t) in ts.iter().enumerate() {
            for (k, (at, a0)) in [(0, 0), (0, 1), (1, 0), (1, 1)].iter().enumerate() {
                let got = q.double_value(&[b as i64, (k / 2) as i64, (k % 2) as i64]);
                assert_abs_diff_eq!(got, p.posterior(t, *at == 1, *a0 == 1), epsilon = 1e-15);
            }
        }
        // The mixture with a certain p0 is the posterior given that A_0.
        let ones = Tensor::ones([4, 2, 2], (Kind::Double, tch::Device::Cpu));
        let mix1 = lt.mixture(&a_t, &ones);
        let mix0 = lt.mixture(&a_t, &ones.zeros_like());
        let q1 = lt.posterior(&a_t, &ones);
        let q0 = lt.posterior(&a_t, &ones.zeros_like());
        assert!(f64::try_from((mix1 - q1).abs().max()).unwrap() < 1e-15);
        assert!(f64::try_from((mix0 - q0).abs().max()).unwrap() < 1e-15);
    }
}
