//! The error types' contract: `Display` is one complete line that already holds the message
//! of any error it wraps, so `source()` is `None` and a printer that walks the chain
//! (anyhow's `{:#}` and `{:?}`) states each cause once.

#![cfg(feature = "torch")]

use std::error::Error;
use std::path::Path;

use graph_tensor::batch::BatchError;
use graph_tensor::checkpoint::CheckpointError;
use graph_tensor::datasets::DatasetError;
use graph_tensor::model::ModelError;
use graph_tensor::optim::OptimError;
use graph_tensor::run::ConfigError;
use graph_tensor::sample::SampleError;
use graph_tensor::train::{read_metrics, TrainError};
use graph_tensor::GraphError;

/// Asserts that `e` has no source and that its message holds `part`.
fn complete(e: &dyn Error, part: &str) {
    let msg = e.to_string();
    assert!(msg.contains(part), "`{msg}` lacks `{part}`");
    assert!(
        e.source().is_none(),
        "`{msg}` also exposes its cause `{}` as source()",
        e.source().unwrap()
    );
}

fn torch_error() -> tch::TchError {
    tch::TchError::Torch("shape mismatch in addmm".into())
}

#[test]
fn file_errors_name_the_file_and_hold_the_os_message() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("metrics.jsonl");
    let e = read_metrics(&missing).unwrap_err();
    assert!(matches!(e, CheckpointError::Io { .. }), "{e:?}");
    complete(&e, "metrics.jsonl: No such file");
    complete(&TrainError::from(e), "metrics.jsonl: No such file");

    // libtorch's own failure reading a file that is not safetensors
    let bad = dir.path().join("tensors.safetensors");
    std::fs::write(&bad, b"not tensors").unwrap();
    let err = tch::Tensor::read_safetensors(&bad).unwrap_err();
    let torch_msg = err.to_string();
    let e = CheckpointError::Tensors { path: bad, err };
    complete(&e, &format!("tensors.safetensors: {torch_msg}"));

    let e = DatasetError::Io {
        path: Path::new("raw/ENZYMES_A.txt").into(),
        err: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    };
    complete(&e, "raw/ENZYMES_A.txt: permission denied");
}

#[test]
fn wrapped_errors_are_stated_once() {
    let config = || ConfigError::new("train.optimizer.lr", "must be positive");
    complete(
        &TrainError::from(config()),
        "config: field `train.optimizer.lr`: must be positive",
    );
    complete(
        &SampleError::from(config()),
        "checkpoint config: field `train.optimizer.lr`: must be positive",
    );
    for e in [
        Box::new(TrainError::from(torch_error())) as Box<dyn Error>,
        Box::new(ModelError::from(torch_error())),
        Box::new(BatchError::from(torch_error())),
        Box::new(OptimError::from(torch_error())),
        Box::new(SampleError::from(ModelError::from(torch_error()))),
        Box::new(TrainError::from(ModelError::from(BatchError::from(
            torch_error(),
        )))),
    ] {
        complete(e.as_ref(), &format!("libtorch: {}", torch_error()));
    }
    let e = BatchError::Graph {
        index: 3,
        err: GraphError::SelfLoop { node: 2 },
    };
    complete(&e, "graph 3: self-loop at node 2");
}
