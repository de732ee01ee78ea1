//! Adam / AdamW over tch tensors with saveable moments, learning-rate schedules and
//! gradient-norm clipping.
//!
//! tch's built-in optimizer keeps its moments inside libtorch where they cannot be saved, so a
//! resumed run would restart Adam from zero moments. [`Adam`] keeps the first and second
//! moments as ordinary tensors (one pair per trainable variable, by name) that checkpoints
//! save and restore, and follows `torch.optim.Adam` / `torch.optim.AdamW` exactly.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::host::{host, host_mut, viewable, HostFloat};

/// Adam hyper-parameters (`torch.optim.Adam` defaults are `lr 1e-3, betas (0.9, 0.999),
/// eps 1e-8, weight_decay 0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamConfig {
    /// Base learning rate (before schedule and warm-up).
    pub lr: f64,
    /// Exponential decay of the first moment.
    pub beta1: f64,
    /// Exponential decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator `sqrt(v̂) + eps`.
    pub eps: f64,
    /// Weight decay: added to the gradient (`Adam`), or applied to the weights as
    /// `p ← p·(1 − lr·wd)` when `decoupled` (`AdamW`).
    pub weight_decay: f64,
    /// Decoupled weight decay (AdamW, Loshchilov & Hutter 2019).
    pub decoupled: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
}

impl AdamConfig {
    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad("lr", "must be a finite number >= 0");
        }
        if !(0.0..1.0).contains(&self.beta1) {
            return bad("beta1", "must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.beta2) {
            return bad("beta2", "must be in [0, 1)");
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return bad("eps", "must be a finite number >= 0");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", "must be a finite number >= 0");
        }
        Ok(())
    }
}

/// Unit of an exponential decay period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecayEvery {
    /// Decay after every optimizer step.
    Step,
    /// Decay after every epoch (`ceil(train graphs / batch size)` steps), like
    /// `torch.optim.lr_scheduler.ExponentialLR` stepped once per epoch.
    Epoch,
}

/// Learning-rate schedule applied on top of warm-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// The base learning rate throughout.
    Constant {},
    /// `lr · gamma^k` after `k` completed periods.
    Exponential {
        /// Decay factor per period.
        gamma: f64,
        /// Period unit.
        every: DecayEvery,
    },
}

impl LrSchedule {
    /// Learning rate of the optimizer step that follows `step` completed steps.
    ///
    /// Warm-up (score_sde `losses.py::optimization_manager`): `lr · min(step / warmup, 1)`
    /// when `warmup > 0`, with `step` counted from 0, so the very first update uses lr 0 as in
    /// the reference. `steps_per_epoch` is used by [`DecayEvery::Epoch`] (at least 1).
    pub fn lr_at(&self, base: f64, step: u64, warmup: u64, steps_per_epoch: u64) -> f64 {
        let mut lr = base;
        if warmup > 0 {
            lr *= (step as f64 / warmup as f64).min(1.0);
        }
        if let LrSchedule::Exponential { gamma, every } = self {
            let periods = match every {
                DecayEvery::Step => step,
                DecayEvery::Epoch => step / steps_per_epoch.max(1),
            };
            lr *= gamma.powf(periods as f64);
        }
        lr
    }
}

/// Why optimizer state could not be restored.
///
/// `Display` is one complete line that holds the message of any error it wraps, so
/// `source()` is `None` and a printer that walks the chain states each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptimError {
    /// A moment tensor is missing from the saved state.
    #[error("optimizer state has no `{0}`")]
    Missing(String),
    /// A moment tensor has the wrong shape.
    #[error("optimizer state `{name}` has shape {found:?}, the variable has {expected:?}")]
    Shape {
        /// Tensor name.
        name: String,
        /// Saved shape.
        found: Vec<i64>,
        /// The variable's shape.
        expected: Vec<i64>,
    },
    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(tch::TchError),
}

impl From<tch::TchError> for OptimError {
    fn from(e: tch::TchError) -> Self {
        OptimError::Torch(e)
    }
}

/// One trainable variable with its Adam state.
#[derive(Debug)]
struct Slot {
    name: String,
    var: Tensor,
    m: Tensor,
    v: Tensor,
    steps: u64,
}

/// The moments of all variables, concatenated in slot order.
struct FlatMoments {
    m: Tensor,
    v: Tensor,
}

/// Adam / AdamW over the trainable variables of a [`VarStore`], with saveable state.
///
/// Gradients are cleared to "none" between steps, never zeroed in place: libtorch may store
/// one gradient buffer as the `.grad` of several parameters (e.g. biases combined by
/// `stack(..).sum(0)` receive views of one expanded buffer), and in-place zeroing followed by
/// accumulation would then add each step's gradient several times into the shared buffer.
/// For the same reason clipping scales gradients as they are read, not in place.
pub struct Adam {
    config: AdamConfig,
    slots: Vec<Slot>,
    /// When every variable has one dtype and device: the moments of all variables as two
    /// flat buffers (each slot's `m` and `v` are views into them), so that a step is a
    /// dozen whole-model kernels instead of a dozen per variable (on a GPU the per-variable
    /// launches cost more than the arithmetic). Element by element the same operations, so
    /// the same numbers.
    flat: Option<FlatMoments>,
    /// libtorch's own optimizer over the same parameters, used only for its
    /// `zero_grad(set_to_none = true)`, which tch does not expose otherwise.
    clearer: tch::COptimizer,
    /// Factor applied to gradients by the next step (gradient clipping).
    grad_scale: f64,
    /// Whether a step on the CPU runs as loops over the memory of the gradients, moments and
    /// variables ([`Adam::host_step`]) instead of a dozen libtorch passes (the same
    /// operations in the same order, the same numbers; tests turn it off to compare).
    host_loops: bool,
}

impl std::fmt::Debug for Adam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adam")
            .field("config", &self.config)
            .field("slots", &self.slots)
            .finish()
    }
}

/// The trainable variables of `vs` with their names, sorted by name: the fixed order in which
/// the optimizer and the EMA keep (and save) their per-variable state.
pub(crate) fn trainable_variables_by_name(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Name prefix of first moments in saved state.
pub const MOMENT1_PREFIX: &str = "adam.m/";
/// Name prefix of second moments in saved state.
pub const MOMENT2_PREFIX: &str = "adam.v/";

/// One Adam moment update in place, returning the parameter decrement for gradient `g` at
/// step `t` (1-based), as torch computes it: `m ← β1 m + (1 − β1) g`, `v ← β2 v + (1 − β2) g²`,
/// `denom = √v / √(1 − β2^t) + eps`, decrement `lr / (1 − β1^t) · m / denom`. The one place
/// of this arithmetic for the per-variable and the flat step, so they agree bit for bit.
fn adam_update(
    c: &AdamConfig,
    m: &mut Tensor,
    v: &mut Tensor,
    g: &Tensor,
    t: u64,
    lr: f64,
) -> Tensor {
    let _ = m.g_mul_scalar_(c.beta1);
    let _ = m.g_add_(&(g * (1.0 - c.beta1)));
    let _ = v.g_mul_scalar_(c.beta2);
    let _ = v.g_add_(&(g.square() * (1.0 - c.beta2)));
    let bc1 = 1.0 - c.beta1.powf(t as f64);
    let bc2 = 1.0 - c.beta2.powf(t as f64);
    let denom = v.sqrt() / bc2.sqrt() + c.eps;
    (&*m / denom) * (lr / bc1)
}

/// The scalars of one Adam step in `T`, as libtorch casts double scalars for a `T` tensor.
struct AdamScalars<T> {
    /// The clipping factor, if any.
    scale: Option<T>,
    /// Coupled weight decay (added to the gradient), if any.
    decay: Option<T>,
    /// Decoupled weight decay's factor `1 − lr·wd`, if any.
    shrink: Option<T>,
    beta1: T,
    one_minus_beta1: T,
    beta2: T,
    one_minus_beta2: T,
    sqrt_bc2: T,
    eps: T,
    step: T,
}

impl<T: HostFloat> AdamScalars<T> {
    fn new(c: &AdamConfig, t: u64, lr: f64, scale: f64) -> Self {
        let bc1 = 1.0 - c.beta1.powf(t as f64);
        let bc2 = 1.0 - c.beta2.powf(t as f64);
        let wd = c.weight_decay != 0.0;
        AdamScalars {
            scale: (scale != 1.0).then(|| T::from_f64(scale)),
            decay: (wd && !c.decoupled).then(|| T::from_f64(c.weight_decay)),
            shrink: (wd && c.decoupled).then(|| T::from_f64(1.0 - lr * c.weight_decay)),
            beta1: T::from_f64(c.beta1),
            one_minus_beta1: T::from_f64(1.0 - c.beta1),
            beta2: T::from_f64(c.beta2),
            one_minus_beta2: T::from_f64(1.0 - c.beta2),
            sqrt_bc2: T::from_f64(bc2.sqrt()),
            eps: T::from_f64(c.eps),
            step: T::from_f64(lr / bc1),
        }
    }
}

/// The moments' half of [`Adam::step`]'s arithmetic (`adam_update`'s operations in its
/// order, after the clipping factor and coupled weight decay of `step`).
#[inline(always)]
fn host_moments_impl<T: HostFloat>(k: &AdamScalars<T>, g: &[T], p: &[T], m: &mut [T], v: &mut [T]) {
    for (((&gi, &pi), mi), vi) in g.iter().zip(p).zip(m.iter_mut()).zip(v.iter_mut()) {
        let mut gi = match k.scale {
            Some(s) => gi * s,
            None => gi,
        };
        if let Some(wd) = k.decay {
            gi = gi + pi * wd;
        }
        *mi = *mi * k.beta1 + gi * k.one_minus_beta1;
        *vi = *vi * k.beta2 + (gi * gi) * k.one_minus_beta2;
    }
}

crate::simd_fn! {
    /// Updates the moments `m`, `v` of a variable `p` with gradient `g`.
    fn host_moments<'a, T: HostFloat>(
        k: &'a AdamScalars<T>, g: &'a [T], p: &'a [T], m: &'a mut [T], v: &'a mut [T],
    ) -> () => host_moments_impl
}

/// The parameter's half: `p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)` from
/// `sqrt_v = √v` (libtorch's square root, so that the numbers are its own), after the
/// decoupled weight decay.
#[inline(always)]
fn host_params_impl<T: HostFloat>(k: &AdamScalars<T>, m: &[T], sqrt_v: &[T], p: &mut [T]) {
    for ((&mi, &ri), pi) in m.iter().zip(sqrt_v).zip(p.iter_mut()) {
        let mut x = *pi;
        if let Some(f) = k.shrink {
            x = x * f;
        }
        let denom = ri / k.sqrt_bc2 + k.eps;
        *pi = x - (mi / denom) * k.step;
    }
}

crate::simd_fn! {
    /// Updates a variable `p` from its new moments.
    fn host_params<'a, T: HostFloat>(
        k: &'a AdamScalars<T>, m: &'a [T], sqrt_v: &'a [T], p: &'a mut [T],
    ) -> () => host_params_impl
}

/// Whether [`Adam::host_step`] can run a slot in `T`.
fn host_ready<T: HostFloat>(s: &Slot, g: &Tensor) -> bool {
    g.device() == Device::Cpu
        && g.kind() == T::KIND
        && viewable::<T>(&s.var)
        && viewable::<T>(&s.m)
        && viewable::<T>(&s.v)
}

/// One slot's step of [`Adam::host_step`] in `T`.
fn host_slot<T: HostFloat>(c: &AdamConfig, s: &mut Slot, g: &Tensor, lr: f64, scale: f64) {
    s.steps += 1;
    let k = AdamScalars::<T>::new(c, s.steps, lr, scale);
    // an expanded gradient buffer (see the type's docs) is read through a copy
    let g = if viewable::<T>(g) {
        g.shallow_clone()
    } else {
        g.contiguous()
    };
    // the variable's memory is written directly: no autograd graph holds it between steps,
    // and no other view of it is read meanwhile
    let mut var = s.var.detach();
    host_moments(
        &k,
        host::<T>(&g),
        host::<T>(&var),
        host_mut::<T>(&mut s.m),
        host_mut::<T>(&mut s.v),
    );
    let sqrt_v = s.v.sqrt();
    host_params(
        &k,
        host::<T>(&s.m),
        host::<T>(&sqrt_v),
        host_mut::<T>(&mut var),
    );
}

/// `Σ g²` over the gradients in float64, when all are float32 or float64 CPU tensors.
fn host_sum_of_squares(grads: &[Tensor]) -> Option<f64> {
    if grads
        .iter()
        .any(|g| g.device() != Device::Cpu || !matches!(g.kind(), Kind::Float | Kind::Double))
    {
        return None;
    }
    // each gradient's sum on one of libtorch's threads, added in order: the same on any count
    let mut jobs: Vec<(Tensor, f64)> = grads.iter().map(|g| (g.contiguous(), 0.0)).collect();
    crate::parallel::run_jobs_by_size(
        &mut jobs,
        |j| j.0.numel(),
        |(g, sum)| {
            *sum = match g.kind() {
                Kind::Float => sum_of_squares(host::<f32>(g)),
                _ => sum_of_squares(host::<f64>(g)),
            };
        },
    );
    Some(jobs.iter().fold(0.0, |total, j| total + j.1))
}

#[inline(always)]
fn sum_of_squares_impl<T: HostFloat>(x: &[T]) -> f64 {
    // eight partial sums, so that the loop vectorises
    let mut acc = [0.0f64; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            let v = v.to_f64();
            *a += v * v;
        }
    }
    let mut rest = 0.0;
    for &v in chunks.remainder() {
        let v = v.to_f64();
        rest += v * v;
    }
    acc.iter().sum::<f64>() + rest
}

crate::simd_fn! {
    /// `Σ x²` in float64.
    fn sum_of_squares<'a, T: HostFloat>(x: &'a [T]) -> f64 => sum_of_squares_impl
}

impl Adam {
    /// An optimizer over every trainable variable of `vs` (sorted by name), moments zero.
    pub fn new(vs: &VarStore, config: AdamConfig) -> Self {
        let vars = trainable_variables_by_name(vs);
        let uniform = vars.first().is_some_and(|(_, first)| {
            vars.iter()
                .all(|(_, v)| v.kind() == first.kind() && v.device() == first.device())
        });
        let flat = uniform.then(|| {
            let total: i64 = vars.iter().map(|(_, v)| v.numel() as i64).sum();
            let opts = (vars[0].1.kind(), vars[0].1.device());
            FlatMoments {
                m: Tensor::zeros([total], opts),
                v: Tensor::zeros([total], opts),
            }
        });
        let mut offset = 0i64;
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let (m, v) = match &flat {
                    Some(f) => {
                        let n = var.numel() as i64;
                        let view = |t: &Tensor| t.narrow(0, offset, n).view(var.size().as_slice());
                        let mv = (view(&f.m), view(&f.v));
                        offset += n;
                        mv
                    }
                    None => (var.zeros_like().detach(), var.zeros_like().detach()),
                };
                Slot {
                    name,
                    var,
                    m,
                    v,
                    steps: 0,
                }
            })
            .collect::<Vec<Slot>>();
        let mut clearer = tch::COptimizer::sgd(0.0, 0.0, 0.0, 0.0, false).expect("libtorch SGD");
        for s in &slots {
            clearer
                .add_parameters(&s.var, 0)
                .expect("adding a parameter to libtorch SGD");
        }
        Adam {
            config,
            slots,
            flat,
            clearer,
            grad_scale: 1.0,
            host_loops: true,
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Clears every gradient (to undefined, as `zero_grad(set_to_none=True)` in torch).
    pub fn zero_grad(&mut self) {
        self.clearer.zero_grad().expect("libtorch zero_grad");
        self.grad_scale = 1.0;
    }

    /// L2 norm of all gradients together (variables without a gradient count as zero).
    pub fn grad_norm(&self) -> f64 {
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self
                .slots
                .iter()
                .map(|s| s.var.grad())
                .filter(Tensor::defined)
                .collect();
            // on the CPU: one pass over the gradients' memory, in float64
            if let Some(sq) = host_sum_of_squares(&grads) {
                return sq.sqrt();
            }
            // one reduction and one device synchronisation for all variables
            let parts: Vec<Tensor> = grads
                .iter()
                .map(|g| g.reshape([-1]).to_kind(Kind::Double))
                .collect();
            if parts.is_empty() {
                return 0.0;
            }
            Tensor::cat(&parts, 0)
                .square()
                .sum(Kind::Double)
                .double_value(&[])
                .sqrt()
        })
    }

    /// Scales the gradients the next [`Adam::step`] uses so their joint L2 norm is at most
    /// `max_norm` (`torch.nn.utils.clip_grad_norm_`: factor `max_norm / (norm + 1e-6)` when
    /// below 1). Returns the norm before clipping. The `.grad` tensors are not modified.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let norm = self.grad_norm();
        let coef = max_norm / (norm + 1e-6);
        self.grad_scale = if coef < 1.0 { coef } else { 1.0 };
        norm
    }

    /// The factor the next step applies to the gradients (1 unless clipped).
    pub fn grad_scale(&self) -> f64 {
        self.grad_scale
    }

    /// One Adam step with learning rate `lr` (the scheduled rate). Variables without a
    /// gradient are skipped and their step counts do not advance, as in torch.
    pub fn step(&mut self, lr: f64) {
        if self.host_loops && self.host_step(lr) {
            return;
        }
        if self.step_flat(lr) {
            return;
        }
        let (weight_decay, decoupled) = (self.config.weight_decay, self.config.decoupled);
        let scale = self.grad_scale;
        tch::no_grad(|| {
            for s in &mut self.slots {
                let grad = s.var.grad();
                if !grad.defined() {
                    continue;
                }
                s.steps += 1;
                let mut g = if scale == 1.0 {
                    grad.shallow_clone()
                } else {
                    &grad * scale
                };
                if weight_decay != 0.0 {
                    if decoupled {
                        let _ = s.var.g_mul_scalar_(1.0 - lr * weight_decay);
                    } else {
                        g = &g + &s.var * weight_decay;
                    }
                }
                let update = adam_update(&self.config, &mut s.m, &mut s.v, &g, s.steps, lr);
                let _ = s.var.g_sub_(&update);
            }
        });
    }

    /// The step of [`Adam::step`] on the flat moment buffers, when they exist and every
    /// variable has a gradient and the same step count (the bias corrections are then one
    /// pair of scalars) and there is no weight decay. Returns false (doing nothing) otherwise.
    fn step_flat(&mut self, lr: f64) -> bool {
        if self.flat.is_none() {
            return false;
        }
        let steps = self.slots.first().map_or(0, |s| s.steps);
        if self.config.weight_decay != 0.0 || self.slots.iter().any(|s| s.steps != steps) {
            return false;
        }
        let grads: Vec<Tensor> = self.slots.iter().map(|s| s.var.grad()).collect();
        if grads.iter().any(|g| !g.defined()) {
            return false;
        }
        let scale = self.grad_scale;
        let t = steps + 1;
        let Some(flat) = &mut self.flat else {
            return false;
        };
        tch::no_grad(|| {
            let flat_grads: Vec<Tensor> = grads.iter().map(|g| g.reshape([-1])).collect();
            let mut g = Tensor::cat(&flat_grads, 0);
            if scale != 1.0 {
                g *= scale;
            }
            let update = adam_update(&self.config, &mut flat.m, &mut flat.v, &g, t, lr);
            let mut offset = 0i64;
            for s in &mut self.slots {
                let n = s.var.numel() as i64;
                let _ = s
                    .var
                    .g_sub_(&update.narrow(0, offset, n).view(s.var.size().as_slice()));
                offset += n;
                s.steps = t;
            }
        });
        true
    }

    /// [`Adam::step`] as two loops per variable over the memory of its gradient, moments and
    /// value, with libtorch's square root between them: the same operations in the same
    /// order as the libtorch passes, so the same numbers, in three passes instead of a dozen
    /// (and a dozen operator calls per variable). For float32 or float64 variables on the
    /// CPU; false, changing nothing, otherwise.
    fn host_step(&mut self, lr: f64) -> bool {
        let grads: Vec<Tensor> = self.slots.iter().map(|s| s.var.grad()).collect();
        let ready = self
            .slots
            .iter()
            .zip(&grads)
            .all(|(s, g)| !g.defined() || host_ready::<f32>(s, g) || host_ready::<f64>(s, g));
        if !ready {
            return false;
        }
        let scale = self.grad_scale;
        let config = &self.config;
        // each variable's step on one of libtorch's threads (elementwise: the same numbers)
        let mut jobs: Vec<(&mut Slot, Tensor)> = self
            .slots
            .iter_mut()
            .zip(grads)
            .filter(|(_, g)| g.defined())
            .collect();
        crate::parallel::run_jobs_by_size(
            &mut jobs,
            |j| j.1.numel(),
            |(s, g)| {
                tch::no_grad(|| {
                    if g.kind() == Kind::Float {
                        host_slot::<f32>(config, s, g, lr, scale);
                    } else {
                        host_slot::<f64>(config, s, g, lr, scale);
                    }
                })
            },
        );
        true
    }

    /// The moments as named tensors (`adam.m/<var>`, `adam.v/<var>`), for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.slots.len());
        for s in &self.slots {
            out.push((format!("{MOMENT1_PREFIX}{}", s.name), s.m.shallow_clone()));
            out.push((format!("{MOMENT2_PREFIX}{}", s.name), s.v.shallow_clone()));
        }
        out
    }

    /// Per-variable step counts (what bias correction uses), for checkpoints.
    pub fn step_counts(&self) -> BTreeMap<String, u64> {
        self.slots
            .iter()
            .map(|s| (s.name.clone(), s.steps))
            .collect()
    }

    /// Restores moments and step counts saved by [`Adam::state_tensors`] and
    /// [`Adam::step_counts`]. Every variable must be present with its shape.
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        steps: &BTreeMap<String, u64>,
    ) -> Result<(), OptimError> {
        for s in &mut self.slots {
            for (prefix, dst) in [(MOMENT1_PREFIX, &mut s.m), (MOMENT2_PREFIX, &mut s.v)] {
                let key = format!("{prefix}{}", s.name);
                let src = tensors
                    .get(&key)
                    .ok_or_else(|| OptimError::Missing(key.clone()))?;
                if src.size() != dst.size() {
                    return Err(OptimError::Shape {
                        name: key,
                        found: src.size(),
                        expected: dst.size(),
                    });
                }
                tch::no_grad(|| dst.f_copy_(src))?;
            }
            s.steps = *steps
                .get(&s.name)
                .ok_or_else(|| OptimError::Missing(format!("step count of {}", s.name)))?;
        }
        Ok(())
    }
}

/// Adds `grads[i]` into `params[i].grad` (an undefined gradient skips its parameter; `grads`
/// may be longer than `params`, e.g. gradients of inputs after the parameters'): how a
/// gradient computed with `Tensor::run_backward` (e.g. by a job on another thread, see
/// [`crate::parallel`]) joins the gradient the optimizer reads.
pub fn accumulate_grads(params: &[Tensor], grads: &[Tensor]) {
    for (p, g) in params.iter().zip(grads).filter(|(_, g)| g.defined()) {
        let mut acc = p.grad();
        if acc.defined() {
            tch::no_grad(|| {
                let _ = acc.f_add_(g).expect("gradient shapes match");
            });
        } else {
            // no gradient yet: d/dp Σ p·g = g
            (p * g.detach()).sum(p.kind()).backward();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use proptest::prelude::*;
    use tch::{nn, Device};

    /// Reference Adam / AdamW update in f64, written from the torch docs' pseudo-code.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        p: &mut [f64],
        m: &mut [f64],
        v: &mut [f64],
        g: &[f64],
        t: u64,
        lr: f64,
        c: &AdamConfig,
    ) {
        for i in 0..p.len() {
            let mut gi = g[i];
            if c.weight_decay != 0.0 {
                if c.decoupled {
                    p[i] *= 1.0 - lr * c.weight_decay;
                } else {
                    gi += c.weight_decay * p[i];
                }
            }
            m[i] = c.beta1 * m[i] + (1.0 - c.beta1) * gi;
            v[i] = c.beta2 * v[i] + (1.0 - c.beta2) * gi * gi;
            let mh = m[i] / (1.0 - c.beta1.powi(t as i32));
            let vh = v[i] / (1.0 - c.beta2.powi(t as i32));
            p[i] -= lr * mh / (vh.sqrt() + c.eps);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn matches_reference_adam(
            init in proptest::collection::vec(-2.0f64..2.0, 6),
            targets in proptest::collection::vec(-2.0f64..2.0, 6),
            lr in 1e-4f64..1e-1,
            beta1 in 0.0f64..0.99,
            beta2 in 0.9f64..0.9999,
            wd in prop_oneof![Just(0.0), 1e-3f64..1e-1],
            decoupled in any::<bool>(),
            steps in 1u64..8,
        ) {
            let cfg = AdamConfig { lr, beta1, beta2, eps: 1e-8, weight_decay: wd, decoupled };
            let vs = VarStore::new(Device::Cpu);
            let w = vs.root().var_copy("w", &Tensor::from_slice(&init).to_kind(Kind::Float));
            let tgt = Tensor::from_slice(&targets).to_kind(Kind::Float);
            let mut opt = Adam::new(&vs, cfg.clone());
            // reference state in f64, starting from the f32-rounded init
            let mut p: Vec<f64> = init.iter().map(|&x| f64::from(x as f32)).collect();
            let (mut m, mut v) = (vec![0.0; 6], vec![0.0; 6]);
            for t in 1..=steps {
                opt.zero_grad();
                // loss = Σ (w − target)³ / 3 + Σ w²: gradient (w − target)² + 2w
                let loss = ((&w - &tgt).pow_tensor_scalar(3) / 3.0 + w.square()).sum(Kind::Float);
                loss.backward();
                let g: Vec<f64> = p.iter().zip(&targets).map(|(&pi, &ti)| {
                    let ti = f64::from(ti as f32);
                    (pi - ti).powi(2) + 2.0 * pi
                }).collect();
                opt.step(lr);
                reference(&mut p, &mut m, &mut v, &g, t, lr, &cfg);
            }
            let got = Vec::<f64>::try_from(&w.to_kind(Kind::Double)).unwrap();
            for (a, b) in got.iter().zip(&p) {
                prop_assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "torch {a} vs reference {b}");
            }
        }
    }

    /// The flat-buffer step, the per-variable step and the host loops give bit-identical
    /// parameters and moments, with and without clipping, with either weight decay and with
    /// a variable that never gets a gradient; the flat moments are what gets saved.
    #[test]
    fn flat_per_variable_and_host_steps_agree_bit_for_bit() {
        let run = |cfg: &AdamConfig, unused: bool, flat: bool, host_loops: bool| {
            tch::manual_seed(5);
            let vs = VarStore::new(Device::Cpu);
            let randn = nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            };
            let a = vs.root().var("a/w", &[3, 4], randn);
            let b = vs.root().var("b", &[5], randn);
            let c = vs.root().var("c/z", &[2, 1, 2], randn);
            if unused {
                let _ = vs.root().var("d", &[3], randn);
            }
            let mut opt = Adam::new(&vs, cfg.clone());
            assert!(opt.flat.is_some());
            if !flat {
                opt.flat = None;
            }
            opt.host_loops = host_loops;
            for t in 0..12 {
                opt.zero_grad();
                let loss = (a.sin().sum(Kind::Float) * b.square().sum(Kind::Float)
                    + c.pow_tensor_scalar(3).sum(Kind::Float))
                    * (t as f64 + 0.5);
                loss.backward();
                if t % 3 == 1 {
                    opt.clip_grad_norm(0.1);
                }
                opt.step(3e-2);
            }
            let vals = |ts: Vec<Tensor>| {
                ts.iter()
                    .map(|t| Vec::<f32>::try_from(t.detach().reshape([-1])).unwrap())
                    .collect::<Vec<_>>()
            };
            let state = opt.state_tensors().into_iter().map(|(_, t)| t).collect();
            (vals(vec![a, b, c]), vals(state))
        };
        let configs = [
            AdamConfig::default(),
            AdamConfig {
                weight_decay: 0.05,
                ..AdamConfig::default()
            },
            AdamConfig {
                weight_decay: 0.05,
                decoupled: true,
                ..AdamConfig::default()
            },
        ];
        for cfg in &configs {
            let per_variable = run(cfg, false, false, false);
            assert!(per_variable.1.iter().flatten().any(|x| *x != 0.0));
            assert_eq!(run(cfg, false, true, true), per_variable, "{cfg:?}: host");
            // the host loops run the variables as jobs on libtorch's threads: the same bits on
            // one thread and on three
            let before = tch::get_num_threads();
            tch::set_num_threads(1);
            let one = run(cfg, false, true, true);
            tch::set_num_threads(3);
            let three = run(cfg, false, true, true);
            tch::set_num_threads(before);
            assert_eq!(one, per_variable, "{cfg:?}: host, 1 thread");
            assert_eq!(three, per_variable, "{cfg:?}: host, 3 threads");
            if cfg.weight_decay == 0.0 {
                assert_eq!(run(cfg, false, true, false), per_variable, "flat");
            }
            // a variable without a gradient: the per-variable step and the host loops
            assert_eq!(
                run(cfg, true, true, true),
                run(cfg, true, true, false),
                "{cfg:?}: unused variable"
            );
        }
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let run = |split: Option<u64>| -> Vec<f32> {
            let vs = VarStore::new(Device::Cpu);
            let w = vs
                .root()
                .var_copy("a/w", &Tensor::from_slice(&[0.5f32, -1.0, 2.0]));
            let mut opt = Adam::new(&vs, AdamConfig::default());
            for t in 0..10u64 {
                if split == Some(t) {
                    // rebuild a fresh optimizer from the saved state
                    let saved: HashMap<String, Tensor> = opt
                        .state_tensors()
                        .into_iter()
                        .map(|(k, v)| (k, v.copy()))
                        .collect();
                    let counts = opt.step_counts();
                    opt = Adam::new(&vs, AdamConfig::default());
                    opt.load_state(&saved, &counts).unwrap();
                }
                opt.zero_grad();
                (w.square() * (t as f64 + 1.0)).sum(Kind::Float).backward();
                opt.step(1e-2);
            }
            Vec::<f32>::try_from(&w.detach()).unwrap()
        };
        assert_eq!(run(None), run(Some(4)));
        let vs = VarStore::new(Device::Cpu);
        let _ = vs.root().var("w", &[2], nn::Init::Const(0.0));
        let mut opt = Adam::new(&vs, AdamConfig::default());
        assert!(matches!(
            opt.load_state(&HashMap::new(), &BTreeMap::new()),
            Err(OptimError::Missing(_))
        ));
    }

    #[test]
    fn clipping_matches_torch_rule() {
        let vs = VarStore::new(Device::Cpu);
        let a = vs.root().var_copy("a", &Tensor::from_slice(&[3f32]));
        let b = vs.root().var_copy("b", &Tensor::from_slice(&[4f32]));
        let mut opt = Adam::new(&vs, AdamConfig::default());
        ((&a * &a) / 2.0 + (&b * &b) / 2.0)
            .sum(Kind::Float)
            .backward(); // grads 3, 4: norm 5
        let norm = opt.clip_grad_norm(1.0);
        assert_relative_eq!(norm, 5.0, epsilon = 1e-6);
        assert_relative_eq!(opt.grad_scale(), 1.0 / (5.0 + 1e-6), epsilon = 1e-9);
        // the step uses the clipped gradients (see the first moments)
        opt.step(0.1);
        let m: HashMap<String, Tensor> = opt.state_tensors().into_iter().collect();
        assert_relative_eq!(
            m["adam.m/a"].double_value(&[0]),
            0.1 * 3.0 / 5.0,
            max_relative = 1e-5
        );
        assert_relative_eq!(
            m["adam.m/b"].double_value(&[0]),
            0.1 * 4.0 / 5.0,
            max_relative = 1e-5
        );
        // below the threshold nothing changes
        opt.zero_grad();
        ((&a * &a) / 2.0).sum(Kind::Float).backward();
        opt.clip_grad_norm(10.0);
        assert_eq!(opt.grad_scale(), 1.0);
    }

    #[test]
    fn schedules() {
        let c = LrSchedule::Constant {};
        assert_relative_eq!(c.lr_at(1e-3, 0, 0, 1), 1e-3);
        // warm-up: first update at lr 0 (score_sde), full lr from `warmup` on
        assert_relative_eq!(c.lr_at(2e-5, 0, 1000, 1), 0.0);
        assert_relative_eq!(c.lr_at(2e-5, 500, 1000, 1), 1e-5);
        assert_relative_eq!(c.lr_at(2e-5, 5000, 1000, 1), 2e-5);
        let e = LrSchedule::Exponential {
            gamma: 0.999,
            every: DecayEvery::Epoch,
        };
        // 3 steps per epoch: steps 0..3 epoch 0, 3..6 epoch 1
        assert_relative_eq!(e.lr_at(1e-3, 2, 0, 3), 1e-3);
        assert_relative_eq!(e.lr_at(1e-3, 3, 0, 3), 1e-3 * 0.999);
        assert_relative_eq!(
            e.lr_at(1e-3, 3000, 0, 3),
            1e-3 * 0.999f64.powi(1000),
            max_relative = 1e-12
        );
        let s = LrSchedule::Exponential {
            gamma: 0.5,
            every: DecayEvery::Step,
        };
        assert_relative_eq!(s.lr_at(1.0, 3, 0, 100), 0.125);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"exponential","gamma":0.999,"every":"epoch"}"#
        );
        assert!(serde_json::from_str::<LrSchedule>(r#"{"kind":"cosine"}"#).is_err());
        assert!(serde_json::from_str::<LrSchedule>(r#"{"kind":"constant","gamma":1}"#).is_err());
    }

    /// Regression: parameters combined by `stack(..).sum(0)` receive aliased `.grad` views
    /// of one buffer; zeroing in place and accumulating would multiply their gradient by the
    /// number of aliases from the second step on. Clearing to none keeps every step's
    /// gradient equal to a fresh computation.
    #[test]
    fn gradients_of_aliased_parameters_stay_correct_across_steps() {
        let vs = VarStore::new(Device::Cpu);
        let biases: Vec<Tensor> = (0..5)
            .map(|i| vs.root().var(&format!("b{i}"), &[3], nn::Init::Const(0.1)))
            .collect();
        let x = Tensor::from_slice(&[1f32, -2.0, 0.5, 3.0, 1.0, -1.0]).view([2, 3]);
        let mut opt = Adam::new(&vs, AdamConfig::default());
        let mut step = || -> Vec<f32> {
            opt.zero_grad();
            let b = Tensor::stack(&biases, 0).sum_dim_intlist(0, false, Kind::Float);
            (&x + &b).square().sum(Kind::Float).backward();
            Vec::<f32>::try_from(&biases[0].grad()).unwrap()
        };
        let first = step();
        let second = step();
        let third = step();
        assert_eq!(first, second);
        assert_eq!(first, third);
    }
}
