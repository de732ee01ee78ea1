//! The same model on CUDA and on the CPU (feature `cuda`; needs a GPU).
//!
//! The CPU's train-mode forward skips the padding (`network/packed.rs`); CUDA runs the
//! official padded computation. Sampling draws its noise on the CPU, so a chain is the same
//! chain on either device. Run by `scripts/cuda_check.sh` on the GPU machine.
#![cfg(feature = "cuda")]

use edp_gnn::{EdpGnnConfig, EdpGnnModel, SamplerConfig};
use graph_tensor::batch::DenseBatch;
use graph_tensor::model::DiffusionModel;
use graph_tensor::noise::NoiseSource;
use graph_tensor::Graph;
use tch::{nn, Device, Kind, Tensor};

/// The same weights on the CPU and on CUDA device 0.
fn twin(step_num: usize, max_nodes: usize) -> [(nn::VarStore, EdpGnnModel); 2] {
    assert!(tch::Cuda::is_available(), "feature cuda: no CUDA device");
    let cfg = EdpGnnConfig {
        max_nodes,
        sampler: SamplerConfig {
            step_num,
            ..SamplerConfig::default()
        },
        ..EdpGnnConfig::default()
    };
    let cpu = nn::VarStore::new(Device::Cpu);
    let a = EdpGnnModel::build_seeded(&cpu.root(), &cfg, 3).unwrap();
    let mut gpu = nn::VarStore::new(Device::Cuda(0));
    let b = EdpGnnModel::build_seeded(&gpu.root(), &cfg, 4).unwrap();
    gpu.copy(&cpu).unwrap();
    [(cpu, a), (gpu, b)]
}

/// max|a − b| / max|b|, on the host in float64.
fn rel(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (
        a.to_device(Device::Cpu).to_kind(Kind::Double),
        b.to_device(Device::Cpu).to_kind(Kind::Double),
    );
    let m = b.abs().max().double_value(&[]);
    (a - b).abs().max().double_value(&[]) / m
}

fn graphs() -> Vec<Graph> {
    let mut gs = Vec::new();
    for n in [6usize, 9, 12, 15] {
        gs.push(Graph::new(n, (0..n).map(|i| (i.min((i + 1) % n), i.max((i + 1) % n)))).unwrap());
        gs.push(Graph::new(n, (1..n).map(|i| (0, i))).unwrap());
    }
    gs
}

#[test]
fn training_loss_and_gradients_on_cuda_equal_the_cpu() {
    // float64: in float32 the train-mode gradients are ill-conditioned (see the parity
    // fixture's README), here the two devices must agree to rounding.
    let [(mut cpu_vs, cpu), (mut gpu_vs, gpu)] = twin(2, 16);
    cpu_vs.double();
    gpu_vs.double();
    let gs = graphs();
    let batch = DenseBatch::from_graphs(&gs, 16, Device::Cpu).unwrap();
    let mut losses = Vec::new();
    for (vs, model) in [(&cpu_vs, &cpu), (&gpu_vs, &gpu)] {
        for mut v in vs.trainable_variables() {
            v.zero_grad();
        }
        let mut noise = NoiseSource::for_step(7, 0, gs.len(), Device::Cpu);
        let loss = model.loss(&batch, true, &mut noise).unwrap();
        loss.backward();
        losses.push(loss.to_device(Device::Cpu));
    }
    let e = rel(&losses[1], &losses[0]);
    eprintln!(
        "train loss: cpu {}, cuda {}",
        losses[0].double_value(&[]),
        losses[1].double_value(&[])
    );
    assert!(e < 1e-10, "train loss cuda vs cpu: {e}");
    let (cv, gv) = (cpu_vs.variables(), gpu_vs.variables());
    let grads: Vec<(String, Tensor, Tensor)> = cv
        .iter()
        .filter(|(_, c)| c.requires_grad())
        .map(|(k, c)| (k.clone(), c.grad(), gv[k].grad()))
        .collect();
    let top = |t: &Tensor| t.abs().max().to_device(Device::Cpu).double_value(&[]);
    let global = grads.iter().map(|(_, c, _)| top(c)).fold(0.0, f64::max);
    let mut worst = (0.0, String::new());
    for (name, gc, gg) in &grads {
        // Biases followed by a BatchNorm have structurally zero gradients (float noise on
        // either device): they must stay negligible on both.
        if top(gc) < 1e-4 * global {
            assert!(top(gg) < 1e-4 * global, "{name}: {} on CUDA", top(gg));
            continue;
        }
        let e = rel(gg, gc);
        if e > worst.0 {
            worst = (e, name.clone());
        }
    }
    eprintln!("gradients cuda vs cpu: worst {:.3e} ({})", worst.0, worst.1);
    assert!(
        worst.0 < 1e-8,
        "gradient {} differs by {}",
        worst.1,
        worst.0
    );
    // The BatchNorm running statistics were updated the same way.
    for (name, c) in cv.iter().filter(|(k, _)| k.ends_with("running_mean")) {
        let e = rel(&gv[name], c);
        assert!(e < 1e-10, "{name}: {e}");
    }
}

#[test]
fn sampling_chains_on_cuda_equal_the_cpu() {
    let [(_cv, cpu), (_gv, gpu)] = twin(5, 12);
    let counts = [12usize, 5, 9, 1, 7];
    let seeds = [10u64, 11, 12, 13, 14];
    let grouped = |m: &EdpGnnModel| {
        tch::no_grad(|| {
            m.sampler()
                .run(m.network(), &counts, &seeds, 12, &mut |_, _| {})
        })
        .unwrap()
    };
    let a = grouped(&cpu);
    let b = grouped(&gpu);
    assert_eq!(b.device(), Device::Cuda(0));
    let e = rel(&b, &a);
    eprintln!("30-step grouped chains cuda vs cpu: {e:.3e}");
    assert!(e < 1e-4, "chains differ: {e}");
    // What `sample` runs on a GPU: the padded batch.
    let p = tch::no_grad(|| {
        gpu.sampler()
            .run_padded(gpu.network(), &counts, &seeds, 12, &mut |_, _| {})
    })
    .unwrap();
    let e = rel(&p, &a);
    eprintln!("30-step padded chains cuda vs grouped cpu: {e:.3e}");
    assert!(e < 1e-4, "padded chains differ: {e}");
    // The public entry point returns the batch on the requested device.
    let out = gpu
        .sample(&counts, &seeds, Device::Cpu, &mut |_, _| {})
        .unwrap();
    assert_eq!(out.adj().device(), Device::Cpu);
    assert_eq!(out.node_counts(), counts);
    out.check_invariants(0.0).unwrap();
}
