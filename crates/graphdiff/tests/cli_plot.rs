//! `graphdiff plot samples` and `graphdiff plot curves` (in the evaluation-only build too).

use assert_cmd::Command;
use predicates::prelude::*;

fn bin() -> Command {
    Command::cargo_bin("graphdiff").unwrap()
}

#[test]
fn plots_are_svg_files() {
    let tmp = tempfile::tempdir().unwrap();
    let gen = tmp.path().join("gen.jsonl");
    std::fs::write(
        &gen,
        "{\"n\":4,\"edges\":[[0,1],[1,2],[2,3]]}\n{\"n\":3,\"edges\":[[0,1],[0,2],[1,2]]}\n{\"n\":2,\"edges\":[]}\n",
    )
    .unwrap();
    let real = tmp.path().join("real.jsonl");
    std::fs::write(
        &real,
        "{\"n\":5,\"edges\":[[0,1],[1,2],[2,3],[3,4],[0,4]]}\n",
    )
    .unwrap();
    let grid = tmp.path().join("grid.svg");
    bin()
        .args(["plot", "samples"])
        .arg(&gen)
        .arg("--real")
        .arg(&real)
        .args(["-n", "2", "--out"])
        .arg(&grid)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "drew 2 graph(s) and 1 real one(s)",
        ));
    let svg = std::fs::read_to_string(&grid).unwrap();
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    // 4 + 3 generated nodes and 5 real ones; 3 + 3 + 5 edges
    assert_eq!(svg.matches("<circle").count(), 12);
    assert_eq!(svg.matches("<line").count(), 11);
    // the same seed draws the same picture
    let again = tmp.path().join("again.svg");
    bin()
        .args(["plot", "samples"])
        .arg(&gen)
        .args(["-n", "2", "--real"])
        .arg(&real)
        .arg("--out")
        .arg(&again)
        .assert()
        .success();
    assert_eq!(svg, std::fs::read_to_string(&again).unwrap());

    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(
        run.join("metrics.jsonl"),
        "{\"step\":50,\"epoch\":0,\"loss\":0.9,\"lr\":0.001,\"grad_norm\":1.0,\"step_time_s\":0.1,\"steps\":50}\n\
         {\"step\":100,\"epoch\":1,\"loss\":0.5,\"lr\":0.0009,\"grad_norm\":1.0,\"step_time_s\":0.1,\"steps\":50}\n",
    )
    .unwrap();
    let curves = tmp.path().join("loss.svg");
    bin()
        .args(["plot", "curves"])
        .arg(&run)
        .arg("--out")
        .arg(&curves)
        .assert()
        .success();
    let svg = std::fs::read_to_string(&curves).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert!(svg.contains("learning rate") && svg.contains("log scale"));
}

#[test]
fn plot_errors_name_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(
        run.join("metrics.jsonl"),
        "{\"step\":1,\"loss\":0.5,\"lr\":0.1}\nnot json\n",
    )
    .unwrap();
    bin()
        .args(["plot", "curves"])
        .arg(&run)
        .arg("--out")
        .arg(tmp.path().join("x.svg"))
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("metrics.jsonl line 2"));
    bin()
        .args(["plot", "samples"])
        .arg(tmp.path().join("missing.g6"))
        .arg("--out")
        .arg(tmp.path().join("x.svg"))
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("missing.g6"));
    bin()
        .args(["plot", "curves"])
        .arg(&run)
        .arg("--out")
        .arg(tmp.path().join("no/such/dir/x.svg"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not exist"));
}
