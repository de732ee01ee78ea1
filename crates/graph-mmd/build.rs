//! graph-mmd never needs libtorch. But when it is built in one cargo invocation with crates
//! that enable graph-tensor's `torch` feature (`cargo test --workspace`), feature unification
//! links libtorch into its test binaries too. Embed libtorch's lib folder as RUNPATH in that
//! case, so they start without LD_LIBRARY_PATH; without libtorch this does nothing.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Some(dir) = std::env::var_os("LIBTORCH") {
        let lib = std::path::Path::new(&dir).join("lib");
        if lib.join("libtorch_cpu.so").exists() {
            let lib = lib.canonicalize().unwrap_or(lib);
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        }
    }
}
