//! Cross-format tests: round trips, sniffing, the shared datasets, byte identity with
//! networkx, numpy loading our npz, and a seeded robustness run of every reader on garbage.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

/// A G(n, p) graph from a seed.
fn random_graph(n: usize, p: f64, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut edges = Vec::new();
    for v in 1..n {
        for u in 0..v {
            if rng.gen_bool(p) {
                edges.push((u, v));
            }
        }
    }
    Graph::new(n, edges).unwrap()
}

fn arb_graph(max_n: usize) -> impl Strategy<Value = Graph> {
    (0..=max_n, 0u32..=100, any::<u64>())
        .prop_map(|(n, pct, seed)| random_graph(n, f64::from(pct) / 100.0, seed))
}

fn to_bytes(format: GraphFormat, graphs: &[Graph], header: bool) -> Vec<u8> {
    let mut buf = Vec::new();
    write_graphs_to_with(
        &mut buf,
        format,
        graphs,
        WriteOptions::default().header(header),
    )
    .unwrap();
    buf
}

fn from_bytes(format: Option<GraphFormat>, bytes: &[u8]) -> Result<Vec<Graph>, IoError> {
    read_from_detect(bytes, format, Path::new("mem")).map(|(g, _)| g)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Every format, with and without headers, gives back the same graphs, and the written
    /// bytes sniff as the format they are.
    #[test]
    fn every_format_round_trips(graphs in proptest::collection::vec(arb_graph(70), 1..5)) {
        for format in GraphFormat::ALL {
            for header in [true, false] {
                let bytes = to_bytes(format, &graphs, header);
                prop_assert_eq!(&from_bytes(Some(format), &bytes).unwrap(), &graphs, "{}", format);
                let (back, sniffed) = read_from_detect(&bytes[..], None, Path::new("mem")).unwrap();
                prop_assert_eq!(sniffed, format);
                prop_assert_eq!(&back, &graphs);
            }
        }
    }

    /// Single-graph codecs agree with the file writers.
    #[test]
    fn codecs_round_trip(g in arb_graph(70)) {
        let s = graph6::encode(&g).unwrap();
        prop_assert_eq!(graph6::decode(s.as_bytes()).unwrap(), g.clone());
        prop_assert_eq!(format!("{s}\n").into_bytes(), to_bytes(GraphFormat::Graph6, std::slice::from_ref(&g), false));
        let s = sparse6::encode(&g).unwrap();
        prop_assert_eq!(sparse6::decode(s.as_bytes()).unwrap(), g.clone());
        prop_assert_eq!(format!("{s}\n").into_bytes(), to_bytes(GraphFormat::Sparse6, &[g], false));
    }
}

#[test]
fn size_field_boundaries_round_trip() {
    // graph6 stores all n(n−1)/2 bits, so the full round trip stops at a few hundred nodes;
    // the 258047/258048 boundary of the size field is covered by graph6's unit test and here
    // by sparse6, which stores only the edges.
    for n in [62usize, 63, 64, 300] {
        let g = random_graph(n, 0.05, n as u64);
        for f in GraphFormat::ALL {
            assert_eq!(
                from_bytes(Some(f), &to_bytes(f, std::slice::from_ref(&g), true)).unwrap(),
                vec![g.clone()]
            );
        }
    }
    for n in [62usize, 63, 258_047, 258_048] {
        let g = Graph::new(n, [(0, 1), (1, n - 1), (n / 2, n - 2)]).unwrap();
        let s = sparse6::encode(&g).unwrap();
        let size_len = match n {
            0..=62 => 1,
            63..=258_047 => 4,
            _ => 8,
        };
        let expected = if n == 258_048 {
            b":~~".to_vec()
        } else {
            b":".to_vec()
        };
        assert!(s.as_bytes().starts_with(&expected));
        assert_eq!(sparse6::decode(s.as_bytes()).unwrap(), g, "n = {n}");
        let mut field = Vec::new();
        graph6::encode_size(n as u64, &mut field);
        assert_eq!(field.len(), size_len);
        for f in [
            GraphFormat::Sparse6,
            GraphFormat::EdgeList,
            GraphFormat::JsonLines,
        ] {
            assert_eq!(
                from_bytes(Some(f), &to_bytes(f, std::slice::from_ref(&g), true)).unwrap(),
                vec![g.clone()]
            );
        }
    }
}

#[test]
fn format_names_and_extensions() {
    for f in GraphFormat::ALL {
        assert_eq!(f.name().parse::<GraphFormat>().unwrap(), f);
        assert_eq!(
            GraphFormat::from_path(Path::new(&format!("x.{}", f.extension()))),
            Some(f)
        );
    }
    for (s, f) in [
        ("g6", GraphFormat::Graph6),
        ("S6", GraphFormat::Sparse6),
        ("edgelist", GraphFormat::EdgeList),
        ("json", GraphFormat::NodeLinkJson),
        ("node-link", GraphFormat::NodeLinkJson),
    ] {
        assert_eq!(s.parse::<GraphFormat>().unwrap(), f);
    }
    assert!("graphml"
        .parse::<GraphFormat>()
        .unwrap_err()
        .to_string()
        .contains("graphml"));
    for (p, f) in [
        ("a/b.G6", Some(GraphFormat::Graph6)),
        ("c.edges", Some(GraphFormat::EdgeList)),
        ("c.txt", Some(GraphFormat::EdgeList)),
        ("c.jsonl", Some(GraphFormat::JsonLines)),
        ("c.npz", Some(GraphFormat::Npz)),
        ("c.pkl", None),
        ("noext", None),
    ] {
        assert_eq!(GraphFormat::from_path(Path::new(p)), f, "{p}");
    }
}

#[test]
fn sniffing() {
    use GraphFormat::*;
    for (s, f) in [
        (&b">>graph6<<Bg\n"[..], Some(Graph6)),
        (b"\n  Bg\nBg\n", Some(Graph6)),
        (b">>sparse6<<:Bd\n", Some(Sparse6)),
        (b":Bd", Some(Sparse6)),
        (b"{\"n\": 2, \"edges\": [[0, 1]]}\n", Some(JsonLines)),
        (
            b"{\n  \"directed\": false,\n  \"nodes\": []}",
            Some(NodeLinkJson),
        ),
        (b"[{\"nodes\": [], \"links\": []}]", Some(NodeLinkJson)),
        (b"# citations\n0 1\n", Some(EdgeList)),
        (b"\xEF\xBB\xBF0 1\n", Some(EdgeList)),
        (b"PK\x03\x04rest", Some(Npz)),
        (b"", None),
        (b"   \n", None),
        (b"\x00\x01binary", None),
        (b"hello world\n", None),
    ] {
        assert_eq!(GraphFormat::sniff(s), f, "{:?}", String::from_utf8_lossy(s));
    }
    // graph6 lines can start with '{' (n = 60) and '[' (n = 28): decided by decoding.
    for n in [28, 60] {
        let g6 = graph6::encode(&random_graph(n, 0.3, 1)).unwrap();
        assert_eq!(
            GraphFormat::sniff(format!("{g6}\n").as_bytes()),
            Some(Graph6)
        );
    }
}

#[test]
fn gdss_lists_read_and_rewrite_byte_identically() {
    for (name, count) in [
        ("community_small.g6", 100),
        ("ego_small.g6", 200),
        ("grid.g6", 100),
        ("enzymes.g6", 587),
    ] {
        let path = shared(&format!("datasets/gdss/{name}"));
        let graphs = read_graphs(&path).unwrap();
        assert_eq!(graphs.len(), count, "{name}");
        let original = std::fs::read(&path).unwrap();
        assert_eq!(
            to_bytes(GraphFormat::Graph6, &graphs, false),
            original,
            "{name}"
        );
        let mut with_header = graph6::HEADER.to_vec();
        with_header.extend(&original);
        assert_eq!(
            to_bytes(GraphFormat::Graph6, &graphs, true),
            with_header,
            "{name}"
        );
    }
    let gs = read_graphs(&shared("datasets/gdss/community_small.g6")).unwrap();
    let n: Vec<usize> = gs.iter().map(Graph::n).collect();
    assert_eq!(
        (*n.iter().min().unwrap(), *n.iter().max().unwrap()),
        (12, 20)
    );
    assert_eq!(gs.iter().map(Graph::num_edges).sum::<usize>(), 3515); // networkx 3.6
}

#[test]
fn citeseer_edge_list_is_one_graph() {
    let gs = read_graphs(&shared("datasets/citeseer/citeseer.edges")).unwrap();
    assert_eq!(gs.len(), 1);
    // 4,676 lines, 124 of them self-loops (dropped): networkx counts 4,552 other edges.
    assert_eq!((gs[0].n(), gs[0].num_edges()), (3327, 4552));
}

#[test]
fn path_functions_atomic_writes_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let graphs = vec![random_graph(9, 0.4, 3), Graph::empty(4), Graph::empty(0)];
    for f in GraphFormat::ALL {
        let p = dir.path().join(format!("g.{}", f.extension()));
        write_graphs(&p, f, &graphs).unwrap();
        assert_eq!(read_graphs(&p).unwrap(), graphs, "{f}");
        assert_eq!(read_graphs_as(&p, f).unwrap(), graphs, "{f}");
        // Unknown extension: sniffed.
        let q = dir.path().join(format!("g-{}.data", f.extension()));
        std::fs::copy(&p, &q).unwrap();
        assert_eq!(read_graphs_detect(&q, None).unwrap(), (graphs.clone(), f));
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    // Overwriting keeps the old file until the new one is complete; a failed write leaves no
    // temporary file behind.
    let p = dir.path().join("g.g6");
    write_graphs(&p, GraphFormat::Graph6, &graphs[..1]).unwrap();
    assert_eq!(read_graphs(&p).unwrap().len(), 1);
    let missing = dir.path().join("no/such/dir/g.g6");
    let e = write_graphs(&missing, GraphFormat::Graph6, &graphs).unwrap_err();
    assert!(e.to_string().contains("no/such/dir/g.g6"), "{e}");
    assert!(!dir.path().join("no/such/dir/g.g6.tmp").exists());
    let too_big = [Graph::empty(MAX_NODES + 1)];
    let e = write_graphs(&p, GraphFormat::Sparse6, &too_big).unwrap_err();
    assert!(matches!(e, IoError::Encode { graph: 0, .. }), "{e}");
    assert_eq!(
        read_graphs(&p).unwrap().len(),
        1,
        "a refused write leaves the file alone"
    );

    // Read faults name the file.
    let e = read_graphs(&dir.path().join("missing.g6")).unwrap_err();
    assert!(
        matches!(e, IoError::Io { .. }) && e.to_string().contains("missing.g6"),
        "{e}"
    );
    let e = read_graphs(dir.path()).unwrap_err();
    assert!(matches!(e, IoError::Io { .. }), "{e}");
    for ext in ["g6", "s6", "edges", "jsonl", "json", "npz", "unknown"] {
        let p = dir.path().join(format!("empty.{ext}"));
        std::fs::write(&p, b"").unwrap();
        let e = read_graphs(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("no graphs in {}", p.display()),
            "{ext}"
        );
    }
    let p = dir.path().join("comments.edges");
    std::fs::write(&p, b"# nothing here\n\n").unwrap();
    assert!(matches!(
        read_graphs(&p).unwrap_err(),
        IoError::NoGraphs { .. }
    ));
    let p = dir.path().join("garbage.bin");
    std::fs::write(&p, b"\x00\x9f\x92\x96 binary").unwrap();
    let e = read_graphs(&p).unwrap_err();
    assert!(matches!(e, IoError::UnknownFormat { .. }) && e.to_string().contains("garbage.bin"));
}

#[test]
fn error_messages_name_file_and_line() {
    let cases: [(&str, GraphFormat, &[u8], &str); 9] = [
        // Quoted input is escaped and cut short: messages stay on one line.
        (
            "graphs.jsonl",
            GraphFormat::JsonLines,
            b"{\"\\n\\u001b[2J\": 6}",
            "graphs.jsonl line 1 column 14: unknown field `\\n\\u{1b}[2J`, expected `n` or `edges`",
        ),
        (
            "graphs.edges",
            GraphFormat::EdgeList,
            b"0 1\n1 2 3 \x1b[2J 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
            "graphs.edges line 2: expected an edge 'u v', found a third field '3' in '1 2 3 \\u{1b}[2J 4 5 6 7 8 9 10 11 12 13 14 15...'",
        ),
        (
            "graphs.g6",
            GraphFormat::Graph6,
            b">>\rgraph6<<Bg\n",
            "graphs.g6 line 1: unknown header '>>\\rgraph6<<' (expected '>>graph6<<')",
        ),
        (
            "graphs.g6",
            GraphFormat::Graph6,
            b"Bg\n\n>>graph6<<K???\n",
            "graphs.g6 line 3: graph6 header says 12 nodes (11 bytes of edges) but 3 bytes of edges follow",
        ),
        (
            "graphs.g6",
            GraphFormat::Graph6,
            b">>sparse6<<:Bd\n",
            "graphs.g6 line 1: this is sparse6 (it starts with '>>sparse6<<'), not graph6: read it as sparse6",
        ),
        (
            "graphs.s6",
            GraphFormat::Sparse6,
            b":Bd\nBg\n",
            "graphs.s6 line 2: sparse6 string does not start with ':' (it is graph6: read it as graph6)",
        ),
        (
            "graphs.jsonl",
            GraphFormat::JsonLines,
            b"{\"n\": 2, \"edges\": [[0, 1]]}\n{\"n\": 2, \"edges\": [[0, 2]]}\n",
            "graphs.jsonl line 2: edge 0-2 names node 2, but the graph has only 2 nodes (0..2)",
        ),
        (
            "graphs.jsonl",
            GraphFormat::JsonLines,
            b"{\"n\": 2, \"edges\": [[0, 1]\n",
            "graphs.jsonl line 1 column 25: EOF while parsing a list",
        ),
        (
            "graphs.g6",
            GraphFormat::Graph6,
            b"Bg\n\x89PNG\n",
            "graphs.g6 line 2: byte 0x89 at column 1 is not a graph6 character (those are '?' to '~')",
        ),
    ];
    for (name, f, bytes, msg) in cases {
        let e = read_from(bytes, f, Path::new(name)).unwrap_err();
        assert_eq!(e.to_string(), msg);
        assert_eq!(e.path(), Path::new(name));
    }
}

// ---------------------------------------------------------------------------------------
// networkx and numpy (skipped, with a message, when python3 lacks them).

fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: python3 with {module} is not available");
    }
    ok
}

fn python(script: &str, dir: &Path) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A varied list: empty graphs, isolated nodes, n across the graph6 size-field boundary,
/// sparse and dense, and n = 2^k for sparse6's padding rule.
fn varied_graphs() -> Vec<Graph> {
    let mut gs = vec![Graph::empty(0), Graph::empty(1), Graph::empty(5)];
    let mut seed = 0;
    for n in [
        2usize, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 62, 63, 64, 100, 129,
    ] {
        for p in [0.05, 0.3, 0.9] {
            seed += 1;
            gs.push(random_graph(n, p, seed));
        }
    }
    gs
}

#[test]
fn graph6_and_sparse6_are_byte_identical_to_networkx() {
    if !python_has("networkx") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let graphs = varied_graphs();
    write_graphs(
        &dir.path().join("in.jsonl"),
        GraphFormat::JsonLines,
        &graphs,
    )
    .unwrap();
    python(
        r#"
import json, networkx as nx
gs = []
for line in open("in.jsonl"):
    d = json.loads(line)
    g = nx.Graph(); g.add_nodes_from(range(d["n"])); g.add_edges_from(d["edges"])
    gs.append(g)
nx.write_graph6(gs[7], "nx_single.g6")
nx.write_sparse6(gs[7], "nx_single.s6")
for fmt, enc in [("g6", nx.to_graph6_bytes), ("s6", nx.to_sparse6_bytes)]:
    open(f"nx_multi.{fmt}", "wb").write(b"".join(enc(g, header=(i == 0)) for i, g in enumerate(gs)))
    open(f"nx_plain.{fmt}", "wb").write(b"".join(enc(g, header=False) for g in gs))
json.dump(nx.node_link_data(gs[7]), open("nx_one.json", "w"))
json.dump([nx.node_link_data(g, edges="links") for g in gs], open("nx_many.json", "w"))
"#,
        dir.path(),
    );
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    for (ext, f) in [("g6", GraphFormat::Graph6), ("s6", GraphFormat::Sparse6)] {
        let ours = dir.path().join(format!("ours_single.{ext}"));
        write_graphs(&ours, f, &graphs[7..8]).unwrap();
        assert_eq!(
            read(&format!("ours_single.{ext}")),
            read(&format!("nx_single.{ext}")),
            "{f}"
        );
        assert_eq!(
            to_bytes(f, &graphs, true),
            read(&format!("nx_multi.{ext}")),
            "{f} header"
        );
        assert_eq!(
            to_bytes(f, &graphs, false),
            read(&format!("nx_plain.{ext}")),
            "{f} no header"
        );
        for name in [format!("nx_multi.{ext}"), format!("nx_plain.{ext}")] {
            assert_eq!(read_graphs(&dir.path().join(name)).unwrap(), graphs);
        }
    }
    assert_eq!(
        read_graphs(&dir.path().join("nx_one.json")).unwrap(),
        graphs[7..8]
    );
    assert_eq!(
        read_graphs(&dir.path().join("nx_many.json")).unwrap(),
        graphs
    );

    // networkx reads what we write: node-link JSON and a multi-graph graph6 file.
    write_graphs(
        &dir.path().join("ours.json"),
        GraphFormat::NodeLinkJson,
        &graphs,
    )
    .unwrap();
    write_graphs(&dir.path().join("ours.g6"), GraphFormat::Graph6, &graphs).unwrap();
    write_graphs(&dir.path().join("ours.s6"), GraphFormat::Sparse6, &graphs).unwrap();
    python(
        r#"
import json, networkx as nx
ref = [(d["n"], sorted(map(tuple, d["edges"]))) for d in map(json.loads, open("in.jsonl"))]
canon = lambda g: (g.number_of_nodes(), sorted(tuple(sorted(e)) for e in g.edges()))
nl = [nx.node_link_graph(d, edges="edges") for d in json.load(open("ours.json"))]
assert [canon(g) for g in nl] == ref, "node-link"
assert [canon(g) for g in nx.read_graph6("ours.g6")] == ref, "graph6"
assert [canon(g) for g in nx.read_sparse6("ours.s6")] == ref, "sparse6"
"#,
        dir.path(),
    );
}

#[test]
fn numpy_loads_our_npz() {
    let dir = tempfile::tempdir().unwrap();
    let graphs = varied_graphs();
    write_graphs(
        &dir.path().join("in.jsonl"),
        GraphFormat::JsonLines,
        &graphs,
    )
    .unwrap();
    write_graphs(&dir.path().join("g.npz"), GraphFormat::Npz, &graphs).unwrap();
    let mut z64 = Vec::new();
    npz::write_impl(&mut z64, &graphs, true).unwrap();
    std::fs::write(dir.path().join("g64.npz"), z64).unwrap();
    // The archive itself, with the standard library only.
    if python_has("zipfile") {
        python(
            r#"
import zipfile
for p in ["g.npz", "g64.npz"]:
    z = zipfile.ZipFile(p)
    assert z.testzip() is None, p
    assert sorted(z.namelist()) == ["adj.npy", "n_nodes.npy"], z.namelist()
    assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
"#,
            dir.path(),
        );
    }
    if !python_has("numpy") {
        return;
    }
    python(
        r#"
import json, numpy as np
ref = [json.loads(l) for l in open("in.jsonl")]
N = max(d["n"] for d in ref)
for p in ["g.npz", "g64.npz"]:
    z = np.load(p)
    adj, n = z["adj"], z["n_nodes"]
    assert adj.dtype == np.float32 and adj.shape == (len(ref), N, N), (adj.dtype, adj.shape)
    assert n.dtype == np.int64 and n.tolist() == [d["n"] for d in ref]
    for g, d in enumerate(ref):
        a = np.zeros((N, N), np.float32)
        for u, v in d["edges"]:
            a[u, v] = a[v, u] = 1
        assert (adj[g] == a).all(), g
# And what numpy writes, we read: float64, bool, Fortran order, no n_nodes.
a = np.zeros((2, 4, 4)); a[0, 0, 1] = a[0, 1, 0] = 1; a[1, 2, 3] = a[1, 3, 2] = 1
np.savez("np_f8.npz", adj=a, n_nodes=np.array([2, 4], dtype=np.int32))
np.savez("np_bool.npz", adj=np.asfortranarray(a.astype(bool)), other=np.arange(3))
np.savez("np_2d.npz", adj=a[1].astype(np.uint8))
np.savez_compressed("np_deflate.npz", adj=a)
"#,
        dir.path(),
    );
    let p = |n: &str| dir.path().join(n);
    let two = Graph::new(2, [(0, 1)]).unwrap();
    let four = Graph::new(4, [(2, 3)]).unwrap();
    assert_eq!(
        read_graphs(&p("np_f8.npz")).unwrap(),
        vec![two, four.clone()]
    );
    assert_eq!(
        read_graphs(&p("np_bool.npz")).unwrap(),
        vec![Graph::new(4, [(0, 1)]).unwrap(), four.clone()]
    );
    assert_eq!(read_graphs(&p("np_2d.npz")).unwrap(), vec![four]);
    let e = read_graphs(&p("np_deflate.npz")).unwrap_err().to_string();
    assert!(e.contains("np.savez_compressed"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Robustness: the stable-toolchain stand-in for fuzz/fuzz_targets/readers.rs.

/// Runs every reader (each format, and sniffing) on `input`; none may panic, and every
/// error must name the file.
fn all_readers_survive(input: &[u8]) {
    let name = Path::new("fuzz-input.bin");
    let formats = GraphFormat::ALL.iter().map(|&f| Some(f)).chain([None]);
    for f in formats {
        let r = catch_unwind(AssertUnwindSafe(|| read_from_detect(input, f, name)));
        match r {
            Err(_) => panic!(
                "reader {f:?} panicked on {:?}",
                String::from_utf8_lossy(input)
            ),
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("fuzz-input.bin") && !msg.contains('\n'),
                    "{msg}"
                );
            }
            Ok(Ok((gs, _))) => assert!(!gs.is_empty()),
        }
    }
    let _ = graph6::decode(input);
    let _ = sparse6::decode(input);
}

/// Valid files of every format, plus the corner cases mutations should start from.
fn seed_corpus() -> Vec<Vec<u8>> {
    let lists = [
        vec![random_graph(5, 0.5, 1), Graph::empty(0), Graph::empty(3)],
        vec![random_graph(16, 0.2, 2), random_graph(63, 0.05, 3)],
        vec![random_graph(8, 0.9, 4)],
    ];
    let mut corpus = Vec::new();
    for graphs in &lists {
        for f in GraphFormat::ALL {
            for header in [true, false] {
                corpus.push(to_bytes(f, graphs, header));
            }
        }
    }
    corpus.extend(
        [
            &b""[..],
            b"\n",
            b">>graph6<<",
            b"~~~~~~~~",
            b":~~~~~~~~",
            b"# graph 0 nodes 16777216\n",
            b"0 1\n1 0\n2 2\n",
            b"{\"n\": 3, \"edges\": [[0, 1]]}\n",
            b"[{\"nodes\": [{\"id\": \"a\"}], \"links\": [{\"source\": \"a\", \"target\": \"a\"}]}]",
            b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        ]
        .map(<[u8]>::to_vec),
    );
    corpus
}

fn mutate(rng: &mut ChaCha8Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    const INTERESTING: &[u8] = b"\n\r ?~:;>{}[]\"#,0123456789-\x00\xff";
    let mut s = corpus[rng.gen_range(0..corpus.len())].clone();
    for _ in 0..rng.gen_range(1..=4) {
        let len = s.len();
        match rng.gen_range(0..7) {
            0 if len > 0 => s.truncate(rng.gen_range(0..len)),
            1 if len > 0 => s[rng.gen_range(0..len)] = rng.gen(),
            2 if len > 0 => {
                s[rng.gen_range(0..len)] = INTERESTING[rng.gen_range(0..INTERESTING.len())]
            }
            3 => {
                let at = rng.gen_range(0..=len);
                let k = rng.gen_range(1..16);
                let bytes: Vec<u8> = (0..k).map(|_| rng.gen()).collect();
                s.splice(at..at, bytes);
            }
            4 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..=len);
                s.drain(a..b);
            }
            5 => {
                // Splice a piece of another corpus file in.
                let o = &corpus[rng.gen_range(0..corpus.len())];
                let a = rng.gen_range(0..=o.len());
                let b = rng.gen_range(a..=o.len());
                let at = rng.gen_range(0..=len);
                s.splice(at..at, o[a..b].iter().copied());
            }
            _ if len > 0 => {
                // Duplicate a chunk (repeated lines, repeated zip records).
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..=len.min(a + 64));
                let chunk = s[a..b].to_vec();
                s.splice(b..b, chunk);
            }
            _ => {}
        }
    }
    s
}

#[test]
fn readers_never_panic_on_mutated_or_random_input() {
    let corpus = seed_corpus();
    for s in &corpus {
        all_readers_survive(s);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x6772_6170_6864_6966);
    for _ in 0..3000 {
        let input = mutate(&mut rng, &corpus);
        all_readers_survive(&input);
    }
    for _ in 0..500 {
        let len = rng.gen_range(0..256);
        let input: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        all_readers_survive(&input);
    }
}

proptest! {
    /// Shards written with `first_index`, concatenated in order, are byte-identical to the
    /// whole set written at once, for every concatenable format.
    #[test]
    fn shards_concatenate_to_the_whole_file(
        graphs in proptest::collection::vec(arb_graph(30), 1..9),
        cuts in proptest::collection::vec(0usize..9, 0..4),
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(graphs.len())).collect();
        cuts.extend([0, graphs.len()]);
        cuts.sort_unstable();
        for format in [GraphFormat::Graph6, GraphFormat::Sparse6, GraphFormat::EdgeList, GraphFormat::JsonLines] {
            let mut whole = Vec::new();
            write_graphs_to(&mut whole, format, &graphs).unwrap();
            let mut joined = Vec::new();
            // an empty shard writes nothing (`graphdiff sample --shard` writes an empty file)
            for w in cuts.windows(2).filter(|w| w[0] < w[1]) {
                let opts = WriteOptions::default().first_index(w[0]);
                write_graphs_to_with(&mut joined, format, &graphs[w[0]..w[1]], opts).unwrap();
            }
            prop_assert_eq!(&joined, &whole, "{}", format);
        }
    }
}

#[test]
fn containers_refuse_to_continue_a_file() {
    let g = [Graph::empty(2)];
    for format in [GraphFormat::NodeLinkJson, GraphFormat::Npz] {
        let mut buf = Vec::new();
        let e = write_graphs_to_with(&mut buf, format, &g, WriteOptions::default().first_index(3))
            .unwrap_err();
        assert!(e.to_string().contains("cannot continue"), "{e}");
    }
}
