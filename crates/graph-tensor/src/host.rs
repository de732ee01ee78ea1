//! Views of a CPU tensor's memory as a Rust slice, for the model crates' fused loops
//! (graph-ddpm's `ppgn/fused.rs`, graph-gdp's `pgsn/tape.rs`): a loop reads its inputs and
//! writes its outputs in the tensors that libtorch's matrix products read and write, with no
//! copy to or from a `Vec` in between.
//!
//! The views are sound as long as no other view of the same storage is written while one
//! lives: libtorch tensors can share storage (`view`, `shallow_clone`, `detach`), which the
//! borrow checker does not see. Callers view tensors they made themselves (or read tensors
//! they do not write); each call site says so.

use tch::kind::Element;
use tch::{Device, Tensor};

/// Whether the loops can view `t` as a `[T]`: a contiguous CPU tensor of `T`'s kind.
pub fn viewable<T: Element>(t: &Tensor) -> bool {
    t.device() == Device::Cpu && t.kind() == T::KIND && t.is_contiguous()
}

fn check<T: Element>(t: &Tensor) {
    assert!(
        viewable::<T>(t),
        "host view of a {:?} tensor on {:?} (contiguous: {}) as {:?}",
        t.kind(),
        t.device(),
        t.is_contiguous(),
        T::KIND
    );
}

/// The elements of `t` (contiguous, on the CPU, of `T`'s kind: checked, a panic otherwise,
/// since a caller passes tensors it made).
pub fn host<T: Element>(t: &Tensor) -> &[T] {
    check::<T>(t);
    let len = t.numel();
    if len == 0 {
        return &[];
    }
    #[allow(unsafe_code)]
    // SAFETY: a contiguous CPU tensor of `T`'s kind holds `len` elements of `T` from
    // `data_ptr` (which includes the storage offset); the borrow of `t` keeps the storage
    // alive. Callers do not write the storage while the slice lives (module docs).
    unsafe {
        std::slice::from_raw_parts(t.data_ptr() as *const T, len)
    }
}

/// The elements of `t`, writable (the same checks as [`host`]).
pub fn host_mut<T: Element>(t: &mut Tensor) -> &mut [T] {
    check::<T>(t);
    let len = t.numel();
    if len == 0 {
        return &mut [];
    }
    #[allow(unsafe_code)]
    // SAFETY: as in `host`; and callers hold no other view of this storage while this one
    // lives (module docs).
    unsafe {
        std::slice::from_raw_parts_mut(t.data_ptr() as *mut T, len)
    }
}

/// The float types of the host loops (`f32`, `f64`): the arithmetic they use, and the cast
/// of a double scalar as libtorch makes it for a tensor of the type.
pub trait HostFloat:
    Element
    + Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    /// `v` rounded to the type.
    fn from_f64(v: f64) -> Self;
    /// The value as `f64` (exact).
    fn to_f64(self) -> f64;
    /// The correctly rounded square root.
    fn sqrt(self) -> Self;
}

impl HostFloat for f32 {
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl HostFloat for f64 {
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn views_read_and_write_the_tensor() {
        let mut t = Tensor::arange(6, (Kind::Float, Device::Cpu)).view([2, 3]);
        assert_eq!(host::<f32>(&t), &[0., 1., 2., 3., 4., 5.]);
        host_mut::<f32>(&mut t)[4] = 9.0;
        assert_eq!(t.double_value(&[1, 1]), 9.0);
        // a contiguous narrow starts at its storage offset
        let row = t.narrow(0, 1, 1);
        assert_eq!(host::<f32>(&row), &[3., 9., 5.]);
        assert!(!viewable::<f32>(&t.tr()));
        assert!(!viewable::<f64>(&t));
        assert!(host::<f64>(&Tensor::zeros([0], (Kind::Double, Device::Cpu))).is_empty());
    }

    #[test]
    #[should_panic(expected = "host view")]
    fn a_wrong_kind_is_refused() {
        let t = Tensor::zeros([2], (Kind::Double, Device::Cpu));
        let _ = host::<f32>(&t);
    }
}
