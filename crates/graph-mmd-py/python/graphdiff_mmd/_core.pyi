"""Type stubs of the compiled module ``graphdiff_mmd._core`` (see ``src/lib.rs``).

Users call the functions of ``graphdiff_mmd``; these are the primitives they wrap.
"""

from typing import List, Optional, Sequence, Tuple

__version__: str

class GraphInputError(ValueError):
    """A graph is not an undirected simple graph (or not a graph); the message names the
    argument, the graph's position and the problem."""

class GraphSet:
    """A validated list of undirected simple graphs.

    Graph ``i`` has ``node_counts[i]`` nodes and the next ``edge_counts[i]`` ``(u, v)`` pairs
    of the flat ``endpoints`` list; every undirected edge once, or every edge in both
    directions. Raises ``GraphInputError`` naming ``name[i]`` and the problem.
    """

    def __init__(
        self,
        node_counts: Sequence[int],
        endpoints: Sequence[int],
        edge_counts: Sequence[int],
        name: str = "graphs",
    ) -> None: ...
    def __len__(self) -> int: ...
    def node_counts(self) -> List[int]:
        """Number of nodes of every graph."""
    def edges(self, i: int) -> List[Tuple[int, int]]:
        """The edges ``(u, v)``, ``u < v``, of graph ``i``, sorted."""

def evaluate(
    reference: GraphSet,
    generated: GraphSet,
    protocol: str = "graphrnn",
    statistics: Optional[Sequence[str]] = None,
    kernels: Optional[Sequence[Tuple[str, str]]] = None,
    isolated_nodes: Optional[str] = None,
    threads: Optional[int] = None,
) -> str:
    """The MMD report as JSON text: ``{"report": <graphdiff eval --json's report>,
    "threads": N}``. Kernel specs: ``emd[:sigma]``, ``tv[:sigma]``, ``rbf[:sigma]``,
    ``rbf-max``. ``isolated_nodes``: ``keep``, ``remove``, ``remove_keep_one_node``."""

def sample_quality(
    generated: GraphSet,
    train: Optional[GraphSet] = None,
    validity: Optional[str] = None,
    threads: Optional[int] = None,
) -> str:
    """Uniqueness / novelty / validity / V.U.N. as JSON text."""
