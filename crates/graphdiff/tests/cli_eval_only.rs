//! The evaluation-only build (`--no-default-features`): no libtorch among the libraries the
//! binary loads, `train` and `sample` answer with an error that says why, and `--version`
//! says what the build is. (The commands it keeps are tested by cli_dataset, cli_stats and
//! cli_eval, which run in both builds.)
#![cfg(not(feature = "torch"))]

use std::process::Command as StdCommand;

use assert_cmd::Command;
use predicates::prelude::*;

#[test]
fn loads_no_libtorch() {
    // glibc's loader lists the shared libraries a program would load, without running it
    // (what `ldd` does).
    let out = StdCommand::new(env!("CARGO_BIN_EXE_graphdiff"))
        .env("LD_TRACE_LOADED_OBJECTS", "1")
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("libc.so"), "no loader listing: {list}");
    for lib in ["libtorch", "libc10", "libcuda", "libgomp"] {
        assert!(!list.contains(lib), "{lib} is loaded:\n{list}");
    }
}

#[test]
fn train_and_sample_say_they_need_the_torch_feature() {
    for cmd in ["train", "sample"] {
        Command::cargo_bin("graphdiff")
            .unwrap()
            .args([cmd, "edp-gnn", "--run-dir", "x"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "`graphdiff {cmd}` needs libtorch, and this graphdiff was built without the `torch` feature"
            )));
    }
}

#[test]
fn version_and_help_name_the_build() {
    Command::cargo_bin("graphdiff")
        .unwrap()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains("evaluation only"));
    Command::cargo_bin("graphdiff")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(r"(?m)^\s+eval\s").unwrap().and(
                predicate::str::is_match(r"(?m)^\s+(train|sample)\s")
                    .unwrap()
                    .not(),
            ),
        );
}
