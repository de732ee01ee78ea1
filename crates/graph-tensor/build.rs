// The `torch` feature links libtorch: run the shared libtorch check / rpath script then.
// Without it (graph-mmd, evaluation-only users) nothing about libtorch is required.
#[cfg(feature = "torch")]
include!("../../libtorch-link.rs");

#[cfg(not(feature = "torch"))]
fn main() {}
