//! Error measures for comparing tensors with reference tensors: what the parity tests of
//! every model use (the fixtures' READMEs state their tolerances in these measures).
//! Every measure runs in float64 on the CPU, whatever the inputs' dtype and device.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

/// The parity fixture of `model`: `../shared/parity/<model>` next to the checkout (found from a
/// crate's `CARGO_MANIFEST_DIR`, two levels below the repository root), or
/// `$GRAPHDIFF_SHARED/parity/<model>` where that variable is set (a test binary run on another
/// machine, e.g. by `scripts/cuda_check.sh`).
pub fn fixture_dir(manifest_dir: &str, model: &str) -> PathBuf {
    match std::env::var_os("GRAPHDIFF_SHARED") {
        Some(dir) => PathBuf::from(dir).join("parity").join(model),
        None => Path::new(manifest_dir)
            .join("../../../shared/parity")
            .join(model),
    }
}

/// Every tensor of a safetensors file, moved to `device`.
///
/// # Panics
/// If the file cannot be read (a test's fixture is missing or broken).
pub fn read_tensors(path: &Path, device: Device) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .into_iter()
        .map(|(k, v)| (k, v.to_device(device)))
        .collect()
}

/// `t` in float64 on the CPU.
pub fn host(t: &Tensor) -> Tensor {
    t.to_device(Device::Cpu).to_kind(Kind::Double)
}

/// `max |t|` (0 for an empty tensor).
pub fn max_abs(t: &Tensor) -> f64 {
    if t.numel() == 0 {
        return 0.0;
    }
    host(t).abs().max().double_value(&[])
}

/// `‖t‖₂` over all elements.
pub fn l2(t: &Tensor) -> f64 {
    host(t).square().sum(Kind::Double).sqrt().double_value(&[])
}

fn check_shapes(got: &Tensor, want: &Tensor) {
    assert_eq!(
        got.size(),
        want.size(),
        "compared tensors have different shapes"
    );
}

/// Normwise error `max|got − want| / max|want|` ("normwise" in the fixtures' READMEs).
///
/// # Panics
/// If the shapes differ.
pub fn normwise(got: &Tensor, want: &Tensor) -> f64 {
    check_shapes(got, want);
    max_abs(&(host(got) - host(want))) / max_abs(want)
}

/// Relative L2 error `‖got − want‖₂ / ‖want‖₂` (the fixtures' gradient measure).
///
/// # Panics
/// If the shapes differ.
pub fn l2_rel(got: &Tensor, want: &Tensor) -> f64 {
    check_shapes(got, want);
    l2(&(host(got) - host(want))) / l2(want)
}

/// `allclose(rtol, atol)` as a ratio: `max |got − want| / (atol + rtol·|want|)`; the tensors
/// are close when it is at most 1.
///
/// # Panics
/// If the shapes differ.
pub fn allclose_ratio(got: &Tensor, want: &Tensor, rtol: f64, atol: f64) -> f64 {
    check_shapes(got, want);
    let (g, w) = (host(got), host(want));
    let bound = w.abs() * rtol + atol;
    max_abs(&((g - &w).abs() / bound))
}

/// Whether two tensors have the same shape and the same values (after conversion to float64
/// on the CPU, so `0.0` in f32 equals `0.0` in f64).
pub fn same_values(got: &Tensor, want: &Tensor) -> bool {
    got.size() == want.size() && host(got).equal(&host(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures() {
        let want = Tensor::from_slice(&[1.0f32, -2.0, 4.0]);
        let got = Tensor::from_slice(&[1.0f64, -2.0, 4.5]);
        assert_eq!(max_abs(&want), 4.0);
        assert_eq!(normwise(&got, &want), 0.125);
        assert!((l2_rel(&got, &want) - 0.5 / 21f64.sqrt()).abs() < 1e-15);
        assert!((allclose_ratio(&got, &want, 0.0, 0.25) - 2.0).abs() < 1e-15);
        assert!(same_values(
            &want,
            &Tensor::from_slice(&[1.0f64, -2.0, 4.0])
        ));
        assert!(!same_values(&want, &got));
        assert_eq!(
            max_abs(&Tensor::zeros([0], (Kind::Float, Device::Cpu))),
            0.0
        );
    }
}
