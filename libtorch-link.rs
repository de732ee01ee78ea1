//! libtorch-link.rs: build script for each workspace crate whose binaries, tests or examples
//! link libtorch through `tch`. Such a crate's Cargo.toml says
//!     [package]
//!     build = "../../libtorch-link.rs"     # path from the crate to this file
//! Cargo applies `rustc-link-arg` only to the targets of the package whose build script
//! prints it, so a build.rs in one crate does not cover binaries or tests of the others.
//!
//! 1. Checks LIBTORCH (.cargo/config.toml sets it to <repo>/.libtorch). This crate does not
//!    depend on torch-sys directly, so this check runs before torch-sys's build script and
//!    a missing setup gives one clear message instead of a C++ compile error.
//! 2. Embeds the libtorch lib dir as RUNPATH: binaries and tests run without LD_LIBRARY_PATH,
//!    and an LD_LIBRARY_PATH (another machine's torch) still takes precedence.
//! 3. Keeps libtorch.so, and through it libtorch_cuda.so, as NEEDED. rustc links with
//!    --as-needed, which drops both, and then CUDA is never registered on a GPU machine.
//!    Skipped when the lib dir has no libtorch_cuda.so (CPU-only install).
use std::path::PathBuf;

const TORCH_VERSION: &str = "2.11.0"; // the version tch =0.24.0 (torch-sys) is built for

/// Runs the checks and prints the link arguments.
pub fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(libtorch) = std::env::var_os("LIBTORCH").map(PathBuf::from) else {
        fail("LIBTORCH is not set (.cargo/config.toml sets it when cargo runs inside the repo).");
    };
    let lib = libtorch.join("lib");
    println!("cargo:rerun-if-changed={}", lib.display());
    if !lib.join("libtorch_cpu.so").exists() {
        fail(&format!(
            "{} has no lib/libtorch_cpu.so.",
            libtorch.display()
        ));
    }
    // torch/version.py in the PyPI wheel, build-version in a libtorch zip
    let version = std::fs::read_to_string(libtorch.join("version.py"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("__version__ = ").map(str::to_owned))
        })
        .or_else(|| std::fs::read_to_string(libtorch.join("build-version")).ok());
    if let Some(v) = version {
        let v = v.trim().trim_matches(['\'', '"']);
        if v.split('+').next() != Some(TORCH_VERSION) {
            fail(&format!("{} holds torch {v}.", libtorch.display()));
        }
    }
    let lib = lib.canonicalize().unwrap_or(lib); // the cache path, not the repo's symlink
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
    }
}

fn fail(what: &str) -> ! {
    eprintln!("\nerror: libtorch {TORCH_VERSION} not found. {what}");
    eprintln!("Run ./setup-libtorch.sh once: it installs torch=={TORCH_VERSION} from PyPI into a");
    eprintln!("per-user cache and links it at <repo>/.libtorch. Then build again.\n");
    std::process::exit(1);
}
