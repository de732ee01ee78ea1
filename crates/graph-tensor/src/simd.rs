//! Run-time SIMD dispatch for hand-written loops: [`simd_fn!`](crate::simd_fn) compiles a
//! loop inside `pulp`'s dispatch (AVX2 with FMA on x86-64 where the CPU has it), so that the
//! compiler vectorises it for that instruction set, in safe code. The model crates' fused
//! kernels (graph-ddpm's `ppgn/fused.rs`, graph-gdp's `pgsn/fused.rs`) use it.

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
