// Reached only when <repo>/.libtorch/include is missing: CPATH (.cargo/config.toml) is
// searched after the -I dirs that torch-sys passes, so a real libtorch always wins.
#error "libtorch not found: run ./setup-libtorch.sh once (installs torch 2.11.0 from PyPI into a per-user cache and links it at <repo>/.libtorch)"
