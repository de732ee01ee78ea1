//! The same model on CUDA and on the CPU (feature `cuda`; needs a GPU).
//!
//! The CPU runs the pair work in fused loops on graphs grouped by node count; CUDA runs the
//! official padded computation through libtorch. Sampling draws its noise on the CPU, so a
//! sampler run is the same run on either device up to float rounding.
#![cfg(feature = "cuda")]

use graph_gdp::pgsn::{Dropout, Nodes};
use graph_gdp::{DpmSolverConfig, GraphGdpConfig, GraphGdpModel, PcConfig, SamplerConfig};
use graph_tensor::batch::DenseBatch;
use graph_tensor::conformance::{check_loss, check_sampler};
use graph_tensor::model::DiffusionModel;
use graph_tensor::noise::NoiseSource;
use graph_tensor::Graph;
use tch::{nn, Device, Kind, Tensor};

fn cfg(sampler: SamplerConfig) -> GraphGdpConfig {
    GraphGdpConfig {
        sampler,
        ..GraphGdpConfig::ego_small()
    }
}

/// The same weights on the CPU and on CUDA device 0.
fn twin(c: &GraphGdpConfig) -> [(nn::VarStore, GraphGdpModel); 2] {
    assert!(tch::Cuda::is_available(), "feature cuda: no CUDA device");
    let cpu = nn::VarStore::new(Device::Cpu);
    let a = GraphGdpModel::build_seeded(&cpu.root(), c, 3).unwrap();
    let mut gpu = nn::VarStore::new(Device::Cuda(0));
    let b = GraphGdpModel::build_seeded(&gpu.root(), c, 4).unwrap();
    gpu.copy(&cpu).unwrap();
    [(cpu, a), (gpu, b)]
}

fn rel(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (
        a.to_device(Device::Cpu).to_kind(Kind::Double),
        b.to_device(Device::Cpu).to_kind(Kind::Double),
    );
    (&a - &b).norm().double_value(&[]) / b.norm().double_value(&[]).max(1e-300)
}

fn graphs() -> Vec<Graph> {
    (4..14)
        .map(|n| Graph::new(n, (0..n - 1).map(|u| (u, u + 1))).unwrap())
        .collect()
}

#[test]
fn forward_loss_and_gradients_agree_with_the_cpu() {
    let c = cfg(SamplerConfig::default());
    let [(cpu_vs, cpu), (gpu_vs, gpu)] = twin(&c);
    let counts = vec![18, 4, 9, 1, 13];
    let nodes = Nodes::new(counts.clone());
    let seeds: Vec<u64> = (0..5).collect();
    let x = NoiseSource::from_seeds(&seeds, Device::Cpu).randn_sym(18)
        * nodes.pair_mask(18, Kind::Float, Device::Cpu);
    let t = Tensor::from_slice(&[0.1f32, 0.5, 0.9, 0.3, 0.02]);
    let a = tch::no_grad(|| cpu.network().forward(&x, &t, &nodes, Dropout::Off)).unwrap();
    let b = tch::no_grad(|| {
        gpu.network().forward(
            &x.to_device(Device::Cuda(0)),
            &t.to_device(Device::Cuda(0)),
            &nodes,
            Dropout::Off,
        )
    })
    .unwrap();
    assert!(rel(&b, &a) < 1e-4, "eval output differs by {}", rel(&b, &a));
    let batch = DenseBatch::from_graphs(&graphs(), 18, Device::Cpu).unwrap();
    let mut na = NoiseSource::for_step(1, 0, batch.batch_size(), Device::Cpu);
    let la = cpu.loss_backward(&batch, &mut na).unwrap();
    let gb = batch.to_device(Device::Cuda(0));
    let mut nb = NoiseSource::for_step(1, 0, batch.batch_size(), Device::Cuda(0));
    let lb = gpu.loss_backward(&gb, &mut nb).unwrap();
    assert!((la.double_value(&[]) - lb.double_value(&[])).abs() < 1e-4 * la.double_value(&[]));
    for (name, v) in cpu_vs.variables() {
        let w = &gpu_vs.variables()[&name];
        if v.grad().defined() {
            let e = rel(&w.grad(), &v.grad());
            assert!(e < 1e-3, "{name}: gradient differs by {e}");
        }
    }
    check_loss(&gpu, &gpu_vs, &graphs(), 5).unwrap();
}

#[test]
fn samplers_conform_on_cuda_and_agree_with_the_cpu() {
    for sampler in [
        SamplerConfig::Pc(PcConfig {
            steps: 20,
            ..PcConfig::default()
        }),
        SamplerConfig::DpmSolver(DpmSolverConfig {
            steps: 10,
            ..DpmSolverConfig::default()
        }),
    ] {
        let [(_, cpu), (_, gpu)] = twin(&cfg(sampler));
        check_sampler(&gpu, &[5, 1, 18, 0, 18], 7, Device::Cuda(0)).unwrap();
        let counts: Vec<usize> = (0..64).map(|i| 4 + i % 15).collect();
        let seeds: Vec<u64> = (0..64).collect();
        let a = cpu
            .sample(&counts, &seeds, Device::Cpu, &mut |_, _| {})
            .unwrap();
        let b = gpu
            .sample(&counts, &seeds, Device::Cuda(0), &mut |_, _| {})
            .unwrap();
        // float rounding may flip an entry near the threshold; nearly all agree
        let same = a
            .adj()
            .eq_tensor(&b.adj().to_device(Device::Cpu))
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[]);
        assert!(same > 0.99, "only {same} of the entries agree");
    }
}
