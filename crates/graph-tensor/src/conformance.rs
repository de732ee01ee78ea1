//! Conformance checks every model runs from its tests: [`check_sampler`] and [`check_loss`].
//!
//! ```ignore
//! let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! let model = MyModel::build(&vs.root(), &config)?;
//! graph_tensor::conformance::check_sampler(&model, &[5, 1, 8, 0, 8], 7, tch::Device::Cpu).unwrap();
//! ```

use tch::{Device, Kind, Tensor};

use crate::batch::DenseBatch;
use crate::graph::Graph;
use crate::model::DiffusionModel;
use crate::noise::NoiseSource;

/// A violated contract, naming the model and what went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{model}: {message}")]
pub struct ConformanceError {
    /// The model's name.
    pub model: &'static str,
    /// What went wrong.
    pub message: String,
}

fn fail<M: DiffusionModel>(message: impl Into<String>) -> ConformanceError {
    ConformanceError {
        model: M::NAME,
        message: message.into(),
    }
}

fn sample<M: DiffusionModel>(
    model: &M,
    counts: &[usize],
    seeds: &[u64],
    device: Device,
) -> Result<(DenseBatch, Vec<(usize, usize)>), ConformanceError> {
    let mut calls = Vec::new();
    let batch =
        tch::no_grad(|| model.sample(counts, seeds, device, &mut |d, t| calls.push((d, t))))
            .map_err(|e| fail::<M>(format!("sample({counts:?}) failed: {e}")))?;
    Ok((batch, calls))
}

fn equal(a: &Tensor, b: &Tensor) -> bool {
    a.size() == b.size() && a.to_device(Device::Cpu).equal(&b.to_device(Device::Cpu))
}

/// Checks the sampler contract of [`DiffusionModel::sample`] on `node_counts` (include a 0 or
/// 1, repeats and `max_nodes()`), with seeds derived from `seed`:
///
/// * the result has the requested node counts, is 0/1, symmetric, zero on the diagonal and
///   zero outside the mask, on `device`;
/// * the same seeds give the same graphs (determinism);
/// * sampling each graph alone, or the batch in reverse order, gives the same graphs
///   (independence of the batch size and composition);
/// * progress reports are non-decreasing and end at their total; `nfe() > 0`;
/// * a node count above `max_nodes()` and mismatched seed and count lists are errors, not
///   panics.
pub fn check_sampler<M: DiffusionModel>(
    model: &M,
    node_counts: &[usize],
    seed: u64,
    device: Device,
) -> Result<(), ConformanceError> {
    let seeds: Vec<u64> = (0..node_counts.len() as u64)
        .map(|i| crate::noise::derive_seed(seed, &[i]))
        .collect();
    let (batch, calls) = sample(model, node_counts, &seeds, device)?;
    if batch.node_counts() != node_counts {
        return Err(fail::<M>(format!(
            "node counts {:?}, asked for {node_counts:?}",
            batch.node_counts()
        )));
    }
    if batch.device() != device {
        return Err(fail::<M>(format!(
            "sampled on {:?}, asked for {device:?}",
            batch.device()
        )));
    }
    if batch.max_nodes() < node_counts.iter().copied().max().unwrap_or(0) {
        return Err(fail::<M>(format!(
            "padding {} is below the largest node count",
            batch.max_nodes()
        )));
    }
    batch
        .check_invariants(0.0)
        .map_err(|m| fail::<M>(format!("invalid batch: {m}")))?;
    let binary = batch
        .adj()
        .eq(0.0)
        .logical_or(&batch.adj().eq(1.0))
        .all()
        .int64_value(&[])
        == 1;
    if !binary {
        return Err(fail::<M>("sampled adjacency is not 0/1"));
    }
    if calls.is_empty() {
        return Err(fail::<M>("progress was never reported"));
    }
    if calls.windows(2).any(|w| w[1].0 < w[0].0) || calls.iter().any(|&(d, t)| d > t) {
        return Err(fail::<M>(format!(
            "progress reports are not monotone: {calls:?}"
        )));
    }
    let &(d, t) = calls.last().expect("non-empty");
    if d != t {
        return Err(fail::<M>(format!("the last progress report is {d}/{t}")));
    }
    if model.nfe() == 0 {
        return Err(fail::<M>("nfe() is 0"));
    }

    let (again, _) = sample(model, node_counts, &seeds, device)?;
    if !equal(batch.adj(), again.adj()) {
        return Err(fail::<M>("the same seeds gave different graphs"));
    }
    let graphs = batch.to_graphs(0.5).map_err(|e| fail::<M>(e.to_string()))?;
    for (i, (&n, &s)) in node_counts.iter().zip(&seeds).enumerate() {
        let (one, _) = sample(model, &[n], &[s], device)?;
        let g = one.to_graphs(0.5).map_err(|e| fail::<M>(e.to_string()))?;
        if g[0] != graphs[i] {
            return Err(fail::<M>(format!(
                "graph {i} sampled alone differs from the same graph sampled in a batch of {}",
                node_counts.len()
            )));
        }
    }
    let rev_counts: Vec<usize> = node_counts.iter().rev().copied().collect();
    let rev_seeds: Vec<u64> = seeds.iter().rev().copied().collect();
    let (rev, _) = sample(model, &rev_counts, &rev_seeds, device)?;
    let mut rev_graphs = rev.to_graphs(0.5).map_err(|e| fail::<M>(e.to_string()))?;
    rev_graphs.reverse();
    if rev_graphs != graphs {
        return Err(fail::<M>("reversing the batch changed the graphs"));
    }

    let too_big = model.max_nodes() + 1;
    if tch::no_grad(|| model.sample(&[too_big], &[seed], device, &mut |_, _| {})).is_ok() {
        return Err(fail::<M>(format!(
            "sampling {too_big} nodes (above max_nodes) did not fail"
        )));
    }
    if tch::no_grad(|| model.sample(&[1, 2], &[seed], device, &mut |_, _| {})).is_ok() {
        return Err(fail::<M>("two node counts with one seed did not fail"));
    }
    Ok(())
}

/// Checks the loss contract of [`DiffusionModel::loss`] on `graphs` (padded to
/// `max_nodes()`): a finite scalar that is a function of the batch and the noise source only
/// (the same noise gives the same value, bitwise), that changes with the noise seed unless the
/// model is noise-free, and whose gradient reaches at least one parameter of `vs`; and
/// [`DiffusionModel::loss_backward`] gives the same loss and gradient (relative L2 within
/// 1e-9 for a float64 model, 1e-3 for float32).
pub fn check_loss<M: DiffusionModel>(
    model: &M,
    vs: &tch::nn::VarStore,
    graphs: &[Graph],
    seed: u64,
) -> Result<(), ConformanceError> {
    let device = vs.device();
    let batch = DenseBatch::from_graphs(graphs, model.max_nodes(), device)
        .map_err(|e| fail::<M>(e.to_string()))?;
    let eval = |step: u64| -> Result<Tensor, ConformanceError> {
        let mut noise = NoiseSource::for_step(seed, step, batch.batch_size(), device);
        model
            .loss(&batch, true, &mut noise)
            .map_err(|e| fail::<M>(format!("loss failed: {e}")))
    };
    let a = eval(0)?;
    if a.numel() != 1 {
        return Err(fail::<M>(format!(
            "loss has shape {:?}, expected a scalar",
            a.size()
        )));
    }
    let va = a.double_value(&[]);
    if !va.is_finite() {
        return Err(fail::<M>(format!("loss is {va}")));
    }
    let vb = tch::no_grad(|| eval(0))?.double_value(&[]);
    if va.to_bits() != vb.to_bits() {
        return Err(fail::<M>(format!(
            "the same noise gave losses {va} and {vb}"
        )));
    }
    for v in vs.trainable_variables() {
        let mut v = v;
        v.zero_grad();
    }
    a.backward();
    let reached = vs.trainable_variables().iter().any(|v| {
        let g = v.grad();
        g.defined() && g.abs().sum(Kind::Double).double_value(&[]) > 0.0
    });
    if !reached {
        return Err(fail::<M>("the loss gradient reaches no parameter"));
    }
    // The training loop's `loss_backward` (a model may take part of the gradient by hand)
    // gives the same loss and gradient as `loss` + `backward`, up to float rounding.
    let params = vs.trainable_variables();
    let flat = |ts: &[Tensor]| {
        let parts: Vec<Tensor> = ts
            .iter()
            .map(|v| {
                let g = v.grad();
                if g.defined() {
                    g.to_kind(Kind::Double).flatten(0, -1)
                } else {
                    v.zeros_like().to_kind(Kind::Double).flatten(0, -1)
                }
            })
            .collect();
        Tensor::cat(&parts, 0)
    };
    let want = flat(&params);
    for v in &params {
        let mut v = v.shallow_clone();
        v.zero_grad();
    }
    let mut noise = NoiseSource::for_step(seed, 0, batch.batch_size(), device);
    let b = model
        .loss_backward(&batch, &mut noise)
        .map_err(|e| fail::<M>(format!("loss_backward failed: {e}")))?;
    let vb = b.double_value(&[]);
    let tol = if params.iter().all(|v| v.kind() == Kind::Double) {
        1e-9
    } else {
        1e-3
    };
    if (vb - va).abs() > tol * va.abs().max(1e-12) {
        return Err(fail::<M>(format!(
            "loss_backward's loss {vb} differs from loss's {va}"
        )));
    }
    let got = flat(&params);
    let norm = want.norm().double_value(&[]);
    let diff = (&got - &want).norm().double_value(&[]);
    if diff.is_nan() || diff > tol * norm {
        return Err(fail::<M>(format!(
            "loss_backward's gradient differs from loss + backward's by {:.3e} (relative L2)",
            diff / norm
        )));
    }
    Ok(())
}
