//! The sinusoidal time embedding (DDPM's, `models/layers.get_timestep_embedding`).

use tch::{Kind, Tensor};

/// `[sin(l·f_k) ‖ cos(l·f_k)]`, `f_k = exp(−k·ln(10000)/(dim/2 − 1))`, `k < dim/2`, for
/// labels `l: [B]` (the model's time condition `999·t`). Always float32, whatever the
/// labels' kind (the official code casts the labels with `.float()`); an odd `dim` gets one
/// zero column. Returns `[B, dim]`.
pub fn timestep_embedding(labels: &Tensor, dim: i64) -> Tensor {
    let half = dim / 2;
    // math.log(max_positions) / (half_dim − 1), a Python float, rounded to float32 where it
    // multiplies the float32 arange.
    let e = (10000f64).ln() / (half - 1).max(1) as f64;
    let freq = (Tensor::arange(half, (Kind::Float, labels.device())) * -e).exp();
    let arg = labels.to_kind(Kind::Float).unsqueeze(1) * freq.unsqueeze(0);
    let emb = Tensor::cat(&[arg.sin(), arg.cos()], 1);
    if dim % 2 == 1 {
        emb.constant_pad_nd([0, 1])
    } else {
        emb
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn embedding_of_zero_is_zeros_then_ones() {
        let e = timestep_embedding(&Tensor::zeros([2], (Kind::Double, Device::Cpu)), 8);
        assert_eq!(e.size(), vec![2, 8]);
        assert_eq!(e.kind(), Kind::Float);
        let v = Vec::<f32>::try_from(&e.get(0)).unwrap();
        assert_eq!(v, vec![0., 0., 0., 0., 1., 1., 1., 1.]);
        assert_eq!(
            timestep_embedding(&Tensor::ones([1], tch::kind::FLOAT_CPU), 7).size(),
            vec![1, 7]
        );
    }
}
