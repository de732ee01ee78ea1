"""Bad input raises a Python exception naming the argument, the graph's position and the
problem; nothing crashes the interpreter."""

import networkx as nx
import numpy as np
import pytest

GOOD = [nx.path_graph(4), nx.cycle_graph(5)]


def err(gm, fn, *args, **kw):
    with pytest.raises(gm.GraphInputError) as info:
        fn(*args, **kw)
    return str(info.value)


def test_directed_graph(gm):
    msg = err(gm, gm.degree_stats, GOOD, [nx.path_graph(3), nx.DiGraph([(0, 1)])])
    assert msg.startswith("graph_pred_list[1]: directed graph (DiGraph)"), msg


def test_multigraph(gm):
    msg = err(gm, gm.evaluate, [nx.MultiGraph([(0, 1), (0, 1)])], GOOD)
    assert msg.startswith("reference[0]: multigraph"), msg


def test_self_loops(gm):
    g = nx.path_graph(4)
    g.add_edge(2, 2)
    msg = err(gm, gm.orbit_stats_all, GOOD + [g], GOOD)
    assert msg.startswith("graph_ref_list[2]: self-loop on node 2"), msg
    a = np.zeros((3, 3))
    a[1, 1] = 1
    msg = err(gm, gm.evaluate, GOOD, [a])
    assert msg.startswith("generated[0]: self-loop on node 1"), msg
    msg = err(gm, gm.evaluate, GOOD, [(3, [(0, 1), (1, 1)])])
    assert msg.startswith("generated[0]: self-loop on node 1 (edge 1)"), msg


def test_arrays(gm):
    msg = err(gm, gm.evaluate, GOOD, [np.zeros((2, 2)), np.zeros((3, 4))])
    assert msg.startswith("generated[1]: adjacency array of shape (3, 4) is not square"), msg
    a = np.zeros((3, 3))
    a[0, 1] = 1
    msg = err(gm, gm.spectral_stats, [a], GOOD)
    assert msg.startswith("graph_ref_list[0]: adjacency array is not symmetric (entry [0, 1]"), msg
    b = np.zeros((3, 3))
    b[0, 2] = b[2, 0] = 0.7
    msg = err(gm, gm.evaluate, GOOD, [b])
    assert "adjacency entry [0, 2] = 0.7 is not 0 or 1" in msg and msg.startswith("generated[0]"), msg
    c = np.zeros((3, 3))
    c[0, 1] = c[1, 0] = np.nan
    assert "is not 0 or 1" in err(gm, gm.evaluate, GOOD, [c])
    msg = err(gm, gm.evaluate, GOOD, np.zeros((4, 4)))
    assert msg.startswith("generated: an array of shape (4, 4) was given for a list of graphs"), msg


def test_empty_lists(gm):
    msg = err(gm, gm.degree_stats, [], GOOD)
    assert msg.startswith("graph_ref_list is empty"), msg
    msg = err(gm, gm.evaluate, GOOD, [])
    assert msg.startswith("generated is empty"), msg
    assert err(gm, gm.sample_quality, []).startswith("generated is empty")
    # Only empty generated graphs: all dropped, then the set is empty (with the graphrnn
    # protocol's default policy they would become single nodes, as in GDSS adjs_to_graphs).
    with pytest.raises(ValueError, match="generated set is empty after dropping 2 graphs"):
        gm.evaluate(GOOD, [nx.empty_graph(0), nx.empty_graph(0)], isolated_nodes="keep")
    with pytest.raises(ValueError, match="generated set is empty after dropping 1 graphs"):
        gm.degree_stats(GOOD, [nx.empty_graph(0)])
    # A reference graph with no nodes: the reference code produces NaN for it.
    with pytest.raises(ValueError, match="reference graph 1 has no nodes"):
        gm.evaluate([nx.path_graph(3), nx.empty_graph(0)], GOOD)


def test_edge_lists(gm):
    msg = err(gm, gm.evaluate, GOOD, [(3, [(0, 1), (1, 5)])])
    assert msg.startswith("generated[0]: edge 1 (1, 5) names node 5, but the graph has 3 nodes"), msg
    msg = err(gm, gm.evaluate, GOOD, [(3, [(0, 1), (0, 1)])])
    assert "listed twice" in msg, msg
    msg = err(gm, gm.evaluate, GOOD, [(3, [(0, 1), (1, 0), (1, 2)])])
    assert "both directions but other edges only once" in msg, msg
    msg = err(gm, gm.evaluate, GOOD, [[(0, 1), (1, 2, 3)]])
    assert msg.startswith("generated[0]: edge 1 is (1, 2, 3), not a (u, v) pair"), msg
    msg = err(gm, gm.evaluate, GOOD, [[(0, 1.5)]])
    assert "node ids must be integers" in msg, msg
    msg = err(gm, gm.evaluate, GOOD, [(3, np.zeros((2, 5), dtype=np.int64))])
    assert "pass edge_index.T" in msg, msg
    msg = err(gm, gm.evaluate, GOOD, [(-2, [])])
    assert msg.startswith("generated[0]: negative node count -2"), msg
    msg = err(gm, gm.evaluate, GOOD, [(3, []), (2**40, [])])
    assert msg.startswith("generated[1]: 1099511627776 nodes, more than the 16777216"), msg
    assert "is not a graph" in err(gm, gm.evaluate, GOOD, [3.5])
    assert "a str is not a graph" in err(gm, gm.evaluate, GOOD, ["abc"])
    msg = err(gm, gm.evaluate, GOOD, nx.path_graph(3))
    assert msg.startswith("generated: expected a list of graphs, got a single Graph"), msg


def test_options(gm):
    with pytest.raises(ValueError, match="unknown protocol 'foo'"):
        gm.evaluate(GOOD, GOOD, "foo")
    with pytest.raises(ValueError, match="unknown statistic 'betweenness'"):
        gm.evaluate(GOOD, GOOD, statistics=["betweenness"])
    with pytest.raises(ValueError, match="threads must be at least 1"):
        gm.evaluate(GOOD, GOOD, threads=0)
    with pytest.raises(ValueError, match="isolated_nodes 'drop'"):
        gm.evaluate(GOOD, GOOD, isolated_nodes="drop")
    with pytest.raises(TypeError, match="custom Python kernel"):
        gm.degree_stats(GOOD, GOOD, KERNEL=lambda x, y: 1.0)
    with pytest.raises(ValueError, match="orbit vectors are average counts"):
        gm.orbit_stats_all(GOOD, GOOD, KERNEL="emd")
    with pytest.raises(ValueError, match="bins=50"):
        gm.clustering_stats(GOOD, GOOD, bins=50)
    with pytest.raises(ValueError, match="nspdk is not implemented"):
        gm.eval_graph_list(GOOD, GOOD, methods=["nspdk"])
    with pytest.raises(ValueError, match="σ must be finite and > 0"):
        gm.evaluate(GOOD, GOOD, kernels={"orbit": "tv:-1"})
