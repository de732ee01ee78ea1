//! Build script of graph-tensor: with the `torch` feature it runs the shared libtorch check
//! and rpath script (`libtorch-link.rs` at the workspace root); without it (graph-mmd,
//! evaluation-only users) nothing about libtorch is required.

#[cfg(feature = "torch")]
#[path = "../../libtorch-link.rs"]
mod libtorch_link;

fn main() {
    #[cfg(feature = "torch")]
    libtorch_link::main();
}
