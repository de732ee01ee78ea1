//! Build script of the CLI: with the `torch` feature, the libtorch checks and link arguments
//! every crate linking libtorch runs (../../libtorch-link.rs); without it nothing, so the
//! evaluation-only binary neither needs nor loads libtorch.
#[path = "../../libtorch-link.rs"]
mod libtorch_link;

fn main() {
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
        libtorch_link::main();
    }
}
