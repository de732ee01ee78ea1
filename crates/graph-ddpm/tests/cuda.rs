//! The same model on CUDA and on the CPU (feature `cuda`; needs a GPU).
//!
//! The CPU's training loss runs each node count without padding and the GPU's one padded
//! batch; the draws come from the same per-graph streams on the CPU either way, so in float64
//! the losses, gradients and sampled graphs agree.
#![cfg(feature = "cuda")]

use graph_ddpm::{GraphDdpmConfig, GraphDdpmModel, Objective, SamplerKind};
use graph_tensor::batch::DenseBatch;
use graph_tensor::compare::{l2_rel, normwise};
use graph_tensor::model::DiffusionModel;
use graph_tensor::noise::NoiseSource;
use graph_tensor::Graph;
use tch::{nn, Device, Kind, Tensor};

/// The same float64 weights on the CPU and on CUDA device 0.
fn twin(cfg: &GraphDdpmConfig) -> [(nn::VarStore, GraphDdpmModel); 2] {
    assert!(tch::Cuda::is_available(), "feature cuda: no CUDA device");
    tch::manual_seed(3);
    let mut cpu = nn::VarStore::new(Device::Cpu);
    let a = GraphDdpmModel::build(&cpu.root(), cfg).unwrap();
    cpu.double();
    let mut gpu = nn::VarStore::new(Device::Cuda(0));
    let b = GraphDdpmModel::build(&gpu.root(), cfg).unwrap();
    gpu.double();
    gpu.copy(&cpu).unwrap();
    [(cpu, a), (gpu, b)]
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
    for objective in [Objective::Simple, Objective::Vlb] {
        let cfg = GraphDdpmConfig {
            max_nodes: 16,
            objective,
            ..GraphDdpmConfig::default()
        };
        let [(cpu_vs, cpu), (gpu_vs, gpu)] = twin(&cfg);
        let run = |vs: &nn::VarStore, m: &GraphDdpmModel| {
            let batch = DenseBatch::from_graphs(&graphs(), 16, vs.device()).unwrap();
            let mut noise = NoiseSource::for_step(5, 1, batch.batch_size(), vs.device());
            let loss = m.loss_backward(&batch, &mut noise).unwrap();
            let g: Vec<Tensor> = vs
                .trainable_variables()
                .iter()
                .map(|v| v.grad().to_device(Device::Cpu).flatten(0, -1))
                .collect();
            (loss.to_device(Device::Cpu), Tensor::cat(&g, 0))
        };
        let (lc, gc) = run(&cpu_vs, &cpu);
        let (lg, gg) = run(&gpu_vs, &gpu);
        assert!(normwise(&lg, &lc) < 1e-10, "{objective:?}: loss");
        assert!(l2_rel(&gg, &gc) < 1e-9, "{objective:?}: gradients");
    }
}

#[test]
fn sampled_graphs_on_cuda_equal_the_cpu() {
    for kind in [SamplerKind::Simple, SamplerKind::Vlb] {
        let mut cfg = GraphDdpmConfig::default();
        cfg.sampler.kind = kind;
        let [(_c, cpu), (_g, gpu)] = twin(&cfg);
        let counts = [20usize, 12, 15, 1, 18];
        let seeds = [1u64, 2, 3, 4, 5];
        let a = tch::no_grad(|| cpu.sample(&counts, &seeds, Device::Cpu, &mut |_, _| {})).unwrap();
        let b =
            tch::no_grad(|| gpu.sample(&counts, &seeds, Device::Cuda(0), &mut |_, _| {})).unwrap();
        assert_eq!(
            a.to_graphs(0.5).unwrap(),
            b.to_graphs(0.5).unwrap(),
            "{kind:?}"
        );
        assert_eq!(b.adj().kind(), Kind::Float);
    }
}
