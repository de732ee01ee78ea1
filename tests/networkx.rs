//! The README's networkx snippet reads every format graphdiff writes, giving back the same
//! graphs. Runs with the Python in `GRAPHDIFF_PYTHON` (scripts/test.sh points it at its
//! tools venv, which has networkx and numpy), else `python3`; without networkx there it
//! says so and checks nothing.

use std::path::Path;
use std::process::Command;

use graph_tensor::io::{write_graphs, GraphFormat};
use graph_tensor::Graph;

fn snippet() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let start = readme
        .find("<!-- networkx-snippet -->")
        .expect("README: snippet marker");
    let end = readme
        .find("<!-- /networkx-snippet -->")
        .expect("README: snippet end marker");
    let block = &readme[start..end];
    let code = block
        .split("```python")
        .nth(1)
        .expect("a python block")
        .split("```")
        .next()
        .unwrap();
    code.to_string()
}

#[test]
fn readme_snippet_reads_every_format() {
    let python = std::env::var("GRAPHDIFF_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = |module: &str| {
        Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has("networkx") || !has("numpy") {
        eprintln!("skipped: {python} lacks networkx or numpy (set GRAPHDIFF_PYTHON)");
        return;
    }
    let graphs = vec![
        Graph::new(5, [(0, 1), (1, 2), (2, 3), (3, 4), (0, 4)]).unwrap(),
        Graph::new(4, [(0, 3)]).unwrap(), // isolated nodes 1 and 2
        Graph::new(3, [(0, 1), (0, 2), (1, 2)]).unwrap(),
        Graph::empty(2),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let files = [
        ("g.g6", GraphFormat::Graph6, "read_graph6"),
        ("g.jsonl", GraphFormat::JsonLines, "read_jsonl"),
        ("g.json", GraphFormat::NodeLinkJson, "read_node_link"),
        ("g.edgelist", GraphFormat::EdgeList, "read_edgelist"),
        ("g.npz", GraphFormat::Npz, "read_npz"),
    ];
    let mut script = snippet();
    script.push_str("\nimport sys\nresult = {}\n");
    for (name, format, reader) in files {
        let path = tmp.path().join(name);
        write_graphs(&path, format, &graphs).unwrap();
        script.push_str(&format!(
            "result[{name:?}] = [[g.number_of_nodes(), sorted(sorted(map(int, e)) for e in g.edges())] for g in {reader}({:?})]\n",
            path.display().to_string()
        ));
    }
    script.push_str("print(json.dumps(result))\n");
    let out = Command::new(&python)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: Vec<serde_json::Value> = graphs
        .iter()
        .map(|g| {
            serde_json::json!([
                g.n(),
                g.edges().iter().map(|&(u, v)| [u, v]).collect::<Vec<_>>()
            ])
        })
        .collect();
    for (name, _, _) in files {
        assert_eq!(got[name], serde_json::Value::Array(want.clone()), "{name}");
    }
}
