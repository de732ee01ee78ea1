//! Run-time SIMD dispatch for hand-written loops: [`simd_fn!`](crate::simd_fn) compiles a
//! loop inside `pulp`'s dispatch (AVX2 with FMA on x86-64 where the CPU has it), so that the
//! compiler vectorises it for that instruction set, in safe code. The model crates' fused
//! kernels (graph-ddpm's `ppgn/fused.rs`, graph-gdp's `pgsn/fused.rs`) use it.
//! [`exp_range_reduce`] is the vectorisable first step of a float32 exponential.

#[doc(hidden)]
pub use pulp as __pulp;

/// Defines `$name` as `$imp` compiled inside `pulp`'s run-time dispatch: the arguments
/// travel in a struct whose `pulp::WithSimd` body calls the `#[inline(always)]`
/// implementation `$imp`, so the whole loop is compiled for the best instruction set the CPU
/// has. One lifetime and at most one type parameter with one bound:
///
/// ```
/// #[inline(always)]
/// fn scale_impl(x: &mut [f32], s: f32) {
///     for v in x.iter_mut() {
///         *v *= s;
///     }
/// }
/// graph_tensor::simd_fn! {
///     /// `x *= s`.
///     fn scale<'a>(x: &'a mut [f32], s: f32) -> () => scale_impl
/// }
/// let mut x = vec![1.0, 2.0];
/// scale(&mut x, 3.0);
/// assert_eq!(x, [3.0, 6.0]);
/// ```
#[macro_export]
macro_rules! simd_fn {
    (
        $(#[$m:meta])*
        $vis:vis fn $name:ident<$lt:lifetime $(, $g:ident: $bound:path)?>(
            $($arg:ident: $ty:ty),* $(,)?
        ) -> $ret:ty => $imp:ident
    ) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments, clippy::unused_unit)]
        $vis fn $name<$lt $(, $g: $bound)?>($($arg: $ty),*) -> $ret {
            struct Op<$lt $(, $g)?> {
                $($arg: $ty,)*
            }
            impl<$lt $(, $g: $bound)?> $crate::simd::__pulp::WithSimd for Op<$lt $(, $g)?> {
                type Output = $ret;
                #[inline(always)]
                fn with_simd<S: $crate::simd::__pulp::Simd>(self, _: S) -> $ret {
                    let Op { $($arg),* } = self;
                    $imp($($arg),*)
                }
            }
            $crate::simd::__pulp::Arch::new().dispatch(Op { $($arg),* })
        }
    };
}

/// The range reduction of a vectorisable `e^x` in float32: `k`, the integer nearest to
/// `x·log₂e` (ties to even) as a float, and `2^k`, so that `e^x = 2^k·e^(x − k·ln 2)`.
///
/// Adding `1.5·2²³` rounds `x·log₂e` to an integer held in the low mantissa bits; `2^k` is
/// built from those bits. No float-to-integer conversion is involved: Rust's saturating
/// `as i32` compiles to one lane at a time, this to a few vector instructions. `x` must lie in
/// [−87.33, 88.02] (`k ∈ [−126, 127]`, `2^k` normal); callers clamp first.
#[inline(always)]
pub fn exp_range_reduce(x: f32) -> (f32, f32) {
    const SHIFTER: f32 = 12_582_912.0;
    let t = x * std::f32::consts::LOG2_E + SHIFTER;
    let k = t - SHIFTER;
    let ki = (t.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    (k, f32::from_bits(((ki + 127) as u32) << 23))
}

#[cfg(test)]
mod tests {
    use super::exp_range_reduce;

    #[test]
    fn exp_range_reduce_rounds_to_nearest_and_builds_the_power_exactly() {
        let check = |x: f32| {
            let (k, two_k) = exp_range_reduce(x);
            let want = (x * std::f32::consts::LOG2_E).round_ties_even();
            assert_eq!(k, want, "k at {x}");
            assert_eq!(two_k, 2f32.powi(want as i32), "2^k at {x}");
        };
        // every float32 in [−87.33, 88.02] 2⁸ bits apart, and each k's own ln 2 multiple
        for bits in (0..u32::MAX).step_by(1 << 8) {
            let x = f32::from_bits(bits);
            if (-87.33..=88.02).contains(&x) {
                check(x);
            }
        }
        for k in -126..=127 {
            check(k as f32 * std::f32::consts::LN_2);
        }
    }
}
