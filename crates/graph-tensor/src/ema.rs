//! Exponential moving average of weights ([`Ema`]), as in score_sde `models/ema.py`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Tensor};

use crate::host::{host, host_mut, viewable, HostFloat};
use crate::optim::OptimError;

/// EMA hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmaConfig {
    /// Target decay `d` (score_sde: 0.9999; GraphGDP configs: 0.9999).
    pub decay: f64,
    /// Warm-up rule of score_sde `ExponentialMovingAverage(use_num_updates=True)`: after the
    /// `n`-th update the decay used is `min(d, (1 + n) / (10 + n))`.
    pub warmup: bool,
}

impl Default for EmaConfig {
    fn default() -> Self {
        EmaConfig {
            decay: 0.9999,
            warmup: true,
        }
    }
}

/// `shadow ← shadow − (shadow − var)·(1 − d)` in `T` on the tensors' memory, if both are
/// contiguous CPU tensors of `T`'s kind (false, changing nothing, otherwise).
fn host_update<T: HostFloat>(var: &Tensor, shadow: &mut Tensor, d: f64) -> bool {
    if !(viewable::<T>(var) && viewable::<T>(shadow)) {
        return false;
    }
    let f = T::from_f64(1.0 - d);
    ema_loop(host::<T>(var), host_mut::<T>(shadow), f);
    true
}

#[inline(always)]
fn ema_loop_impl<T: HostFloat>(var: &[T], shadow: &mut [T], f: T) {
    for (s, &v) in shadow.iter_mut().zip(var) {
        *s = *s - (*s - v) * f;
    }
}

crate::simd_fn! {
    /// The EMA update of one variable's values.
    fn ema_loop<'a, T: HostFloat>(var: &'a [T], shadow: &'a mut [T], f: T) -> () => ema_loop_impl
}

/// Name prefix of EMA tensors in saved state.
pub const EMA_PREFIX: &str = "ema/";

/// Shadow copies of the trainable variables of a [`VarStore`].
#[derive(Debug)]
pub struct Ema {
    config: EmaConfig,
    num_updates: u64,
    /// (name, live variable, shadow)
    slots: Vec<(String, Tensor, Tensor)>,
}

impl Ema {
    /// Shadows initialised to the current values of `vs`'s trainable variables.
    pub fn new(vs: &VarStore, config: EmaConfig) -> Self {
        let slots = crate::optim::trainable_variables_by_name(vs)
            .into_iter()
            .map(|(name, var)| {
                let shadow = var.detach().copy();
                (name, var, shadow)
            })
            .collect();
        Ema {
            config,
            num_updates: 0,
            slots,
        }
    }

    /// Number of updates so far.
    pub fn num_updates(&self) -> u64 {
        self.num_updates
    }

    /// The decay that the next update will use.
    pub fn next_decay(&self) -> f64 {
        let n = (self.num_updates + 1) as f64;
        if self.config.warmup {
            self.config.decay.min((1.0 + n) / (10.0 + n))
        } else {
            self.config.decay
        }
    }

    /// `shadow ← shadow − (1 − d)(shadow − param)` after an optimizer step.
    pub fn update(&mut self) {
        let d = self.next_decay();
        self.num_updates += 1;
        // on the CPU one pass over each variable's memory, the variables as jobs on
        // libtorch's threads (elementwise: the same numbers as the libtorch operations below)
        let (mut host, mut other): (Vec<_>, Vec<_>) = self.slots.iter_mut().partition(|s| {
            let (var, shadow) = (&s.1, &s.2);
            (viewable::<f32>(var) && viewable::<f32>(shadow))
                || (viewable::<f64>(var) && viewable::<f64>(shadow))
        });
        crate::parallel::run_jobs_by_size(
            &mut host,
            |j| j.1.numel(),
            |(_, var, shadow)| {
                let done = host_update::<f32>(var, shadow, d) || host_update::<f64>(var, shadow, d);
                debug_assert!(done, "a host slot");
            },
        );
        // elsewhere (another device, dtype or layout) on the calling thread
        tch::no_grad(|| {
            for (_, var, shadow) in other.iter_mut() {
                let delta = (&*shadow - &*var) * (1.0 - d);
                let _ = shadow.g_sub_(&delta);
            }
        });
    }

    /// The shadows as named tensors (`ema/<var>`), for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.slots
            .iter()
            .map(|(n, _, s)| (format!("{EMA_PREFIX}{n}"), s.shallow_clone()))
            .collect()
    }

    /// Restores shadows saved by [`Ema::state_tensors`] and the update count.
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        num_updates: u64,
    ) -> Result<(), OptimError> {
        for (name, _, shadow) in &mut self.slots {
            let key = format!("{EMA_PREFIX}{name}");
            let src = tensors
                .get(&key)
                .ok_or_else(|| OptimError::Missing(key.clone()))?;
            if src.size() != shadow.size() {
                return Err(OptimError::Shape {
                    name: key,
                    found: src.size(),
                    expected: shadow.size(),
                });
            }
            tch::no_grad(|| shadow.f_copy_(src))?;
        }
        self.num_updates = num_updates;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use tch::{Device, Kind};

    /// The host loop computes what the libtorch operations compute, bit for bit.
    #[test]
    fn host_update_is_the_libtorch_update() {
        tch::manual_seed(3);
        for kind in [Kind::Float, Kind::Double] {
            let var = Tensor::randn([1000], (kind, Device::Cpu));
            let shadow = Tensor::randn([1000], (kind, Device::Cpu));
            for d in [0.9999, 2.0 / 11.0, 0.5] {
                let want = &shadow - (&shadow - &var) * (1.0 - d);
                let mut got = shadow.copy();
                assert!(
                    host_update::<f32>(&var, &mut got, d) || host_update::<f64>(&var, &mut got, d)
                );
                assert!(got.equal(&want), "{kind:?} {d}");
            }
        }
        // other kinds are left to libtorch
        let h = Tensor::zeros([3], (Kind::Half, Device::Cpu));
        assert!(!host_update::<f32>(&h, &mut h.copy(), 0.5));
    }

    #[test]
    fn warmup_rule_and_update() {
        let vs = VarStore::new(Device::Cpu);
        let mut w = vs.root().var_copy("w", &Tensor::from_slice(&[1f32]));
        let mut ema = Ema::new(
            &vs,
            EmaConfig {
                decay: 0.9999,
                warmup: true,
            },
        );
        assert_relative_eq!(ema.next_decay(), 2.0 / 11.0);
        tch::no_grad(|| w.copy_(&Tensor::from_slice(&[0f32])));
        ema.update();
        // shadow = 1 − (1 − 2/11)(1 − 0) = 2/11
        let s = ema.state_tensors()[0].1.double_value(&[0]);
        assert_relative_eq!(s, 2.0 / 11.0, max_relative = 1e-6);
        for _ in 0..100_000 {
            ema.num_updates += 1;
        }
        assert_relative_eq!(ema.next_decay(), 0.9999);
        let plain = Ema::new(
            &vs,
            EmaConfig {
                decay: 0.5,
                warmup: false,
            },
        );
        assert_relative_eq!(plain.next_decay(), 0.5);
        // reference recursion by hand
        let vs = VarStore::new(Device::Cpu);
        let mut w = vs.root().var_copy("w", &Tensor::from_slice(&[0f32]));
        let mut ema = Ema::new(
            &vs,
            EmaConfig {
                decay: 0.9,
                warmup: true,
            },
        );
        let mut shadow = 0f64;
        for n in 1..=20u64 {
            let p = n as f64;
            tch::no_grad(|| w.copy_(&Tensor::from_slice(&[p as f32])));
            ema.update();
            let d = 0.9f64.min((1.0 + n as f64) / (10.0 + n as f64));
            shadow -= (1.0 - d) * (shadow - p);
        }
        let got = ema.state_tensors()[0]
            .1
            .to_kind(Kind::Double)
            .double_value(&[0]);
        assert_relative_eq!(got, shadow, max_relative = 1e-5);
    }
}
