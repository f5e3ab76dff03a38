"""`Architecture`: the one graph type that flows from search space to search, builder and export.

An Architecture is an immutable directed acyclic graph (networkx ``DiGraph``).  Every node carries an
``op`` attribute plus the op's settings; edges may carry attributes (e.g. ``role``: which input of a
node the edge feeds); ``meta`` holds graph-level facts (space name, cell kind, ...).  Everything is
JSON-serialisable, so an Architecture round-trips through files, keras-tuner trials and logs.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from typing import Any, Hashable, Iterable, Mapping

import networkx as nx

FORMAT_VERSION = 1


class ArchitectureError(ValueError):
    """An Architecture (or its JSON) is malformed; the message names the offending node/edge/field."""


def _check_json_value(value: Any, where: str) -> None:
    try:
        json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ArchitectureError(f"{where}: value {value!r} is not JSON-serialisable ({exc})") from None


def _check_node_id(node: Hashable, where: str) -> None:
    if isinstance(node, bool) or not isinstance(node, (int, str)):
        raise ArchitectureError(f"{where}: node id {node!r} must be an int or a str")


class Architecture:
    """Immutable DAG of ops. Build it from nodes/edges; derive new ones with `with_*` methods."""

    __slots__ = ("_graph", "_meta", "_json_cache")

    def __init__(self, nodes: Iterable[tuple[Hashable, Mapping[str, Any]]] | Mapping[Hashable, Mapping[str, Any]],
                 edges: Iterable[tuple] = (), meta: Mapping[str, Any] | None = None, validate: bool = True):
        g = nx.DiGraph()
        items = nodes.items() if isinstance(nodes, Mapping) else nodes
        for node, attrs in items:
            g.add_node(node, **dict(attrs))
        for edge in edges:
            if len(edge) == 2:
                u, v, attrs = edge[0], edge[1], {}
            elif len(edge) == 3:
                u, v, attrs = edge
            else:
                raise ArchitectureError(f"edge {edge!r}: expected (u, v) or (u, v, attrs)")
            for end in (u, v):
                if end not in g:
                    raise ArchitectureError(f"edge {u!r}->{v!r}: node {end!r} does not exist")
            g.add_edge(u, v, **dict(attrs))
        self._graph = nx.freeze(g)
        self._meta = dict(meta or {})
        self._json_cache: str | None = None
        if validate:
            self.validate()

    # ----------------------------------------------------------------------------- access
    @property
    def graph(self) -> nx.DiGraph:
        """The read-only (frozen) networkx graph."""
        return self._graph

    @property
    def meta(self) -> dict:
        """A copy of the graph-level metadata."""
        return dict(self._meta)

    @property
    def nodes(self) -> list:
        return list(self._graph.nodes)

    @property
    def edges(self) -> list[tuple]:
        return list(self._graph.edges)

    def op(self, node: Hashable) -> str:
        return self._graph.nodes[node]["op"]

    def attrs(self, node: Hashable) -> dict:
        """A copy of a node's attributes (op included)."""
        return dict(self._graph.nodes[node])

    def edge_attrs(self, u: Hashable, v: Hashable) -> dict:
        return dict(self._graph.edges[u, v])

    def predecessors(self, node: Hashable) -> list:
        return sorted(self._graph.predecessors(node), key=_sort_key)

    def successors(self, node: Hashable) -> list:
        return sorted(self._graph.successors(node), key=_sort_key)

    def topological_order(self) -> list:
        """Nodes in a deterministic topological order (ties broken by node id)."""
        return list(nx.lexicographical_topological_sort(self._graph, key=_sort_key))

    def inputs(self) -> list:
        """Nodes without predecessors."""
        return [n for n in self.topological_order() if self._graph.in_degree(n) == 0]

    def outputs(self) -> list:
        """Nodes without successors."""
        return [n for n in self.topological_order() if self._graph.out_degree(n) == 0]

    def reachable_from(self, node: Hashable) -> set:
        """Nodes reachable from `node`, itself included."""
        return {node} | nx.descendants(self._graph, node)

    def __len__(self) -> int:
        return self._graph.number_of_nodes()

    def num_edges(self) -> int:
        return self._graph.number_of_edges()

    # ----------------------------------------------------------------------------- derive
    def _rebuild(self, graph: nx.DiGraph, meta: Mapping | None = None) -> Architecture:
        return Architecture(((n, a) for n, a in graph.nodes(data=True)),
                            ((u, v, a) for u, v, a in graph.edges(data=True)),
                            meta=self._meta if meta is None else meta)

    def with_edge_removed(self, u: Hashable, v: Hashable) -> Architecture:
        if not self._graph.has_edge(u, v):
            raise ArchitectureError(f"edge {u!r}->{v!r} does not exist")
        g = nx.DiGraph(self._graph)
        g.remove_edge(u, v)
        return self._rebuild(g)

    def with_edge(self, u: Hashable, v: Hashable, **attrs) -> Architecture:
        g = nx.DiGraph(self._graph)
        for end in (u, v):
            if end not in g:
                raise ArchitectureError(f"edge {u!r}->{v!r}: node {end!r} does not exist")
        g.add_edge(u, v, **attrs)
        return self._rebuild(g)

    def with_node(self, node: Hashable, **attrs) -> Architecture:
        """Add a node, or update the attributes of an existing one."""
        g = nx.DiGraph(self._graph)
        if node in g:
            g.nodes[node].update(attrs)
        else:
            g.add_node(node, **attrs)
        return self._rebuild(g)

    def without_nodes(self, nodes: Iterable[Hashable]) -> Architecture:
        g = nx.DiGraph(self._graph)
        g.remove_nodes_from(list(nodes))
        return self._rebuild(g)

    def with_meta(self, **meta) -> Architecture:
        return self._rebuild(nx.DiGraph(self._graph), {**self._meta, **meta})

    # ----------------------------------------------------------------------------- checks
    def validate(self) -> Architecture:
        """Raise ArchitectureError naming the first problem: a cycle, a node without op, non-JSON values."""
        for node, attrs in self._graph.nodes(data=True):
            _check_node_id(node, f"node {node!r}")
            op = attrs.get("op")
            if not isinstance(op, str) or not op:
                raise ArchitectureError(f"node {node!r}: missing or empty 'op' attribute (got {op!r})")
            for key, value in attrs.items():
                _check_json_value(value, f"node {node!r} attribute {key!r}")
        for u, v, attrs in self._graph.edges(data=True):
            if u == v:
                raise ArchitectureError(f"edge {u!r}->{v!r}: self-loop")
            for key, value in attrs.items():
                _check_json_value(value, f"edge {u!r}->{v!r} attribute {key!r}")
        for key, value in self._meta.items():
            _check_json_value(value, f"meta {key!r}")
        if not nx.is_directed_acyclic_graph(self._graph):
            cycle = nx.find_cycle(self._graph)
            raise ArchitectureError(f"graph has a cycle: {' -> '.join(repr(u) for u, _ in cycle)}")
        return self

    # ----------------------------------------------------------------------------- identity
    def to_dict(self) -> dict:
        order = sorted(self._graph.nodes, key=_sort_key)
        return {
            "format": FORMAT_VERSION,
            "meta": self._meta,
            "nodes": [{"id": n, **self._graph.nodes[n]} for n in order],
            "edges": [{"src": u, "dst": v, **a}
                      for u, v, a in sorted(self._graph.edges(data=True),
                                            key=lambda e: (_sort_key(e[0]), _sort_key(e[1])))],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> Architecture:
        if not isinstance(data, Mapping):
            raise ArchitectureError(f"{source}: expected a JSON object, got {type(data).__name__}")
        version = data.get("format", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ArchitectureError(f"{source}: unsupported format version {version!r}")
        for field in ("nodes", "edges"):
            if not isinstance(data.get(field), list):
                raise ArchitectureError(f"{source}: field {field!r} must be a list")
        nodes = []
        seen: dict = {}
        for i, entry in enumerate(data["nodes"]):
            if not isinstance(entry, Mapping) or "id" not in entry:
                raise ArchitectureError(f"{source}: nodes[{i}] must be an object with an 'id'")
            _check_node_id(entry["id"], f"{source}: nodes[{i}]")
            if entry["id"] in seen:
                raise ArchitectureError(f"{source}: nodes[{i}]: duplicate node id {entry['id']!r} "
                                        f"(first at nodes[{seen[entry['id']]}])")
            seen[entry["id"]] = i
            attrs = {k: v for k, v in entry.items() if k != "id"}
            nodes.append((entry["id"], attrs))
        edges = []
        for i, entry in enumerate(data["edges"]):
            if not isinstance(entry, Mapping) or "src" not in entry or "dst" not in entry:
                raise ArchitectureError(f"{source}: edges[{i}] must be an object with 'src' and 'dst'")
            for end in ("src", "dst"):
                _check_node_id(entry[end], f"{source}: edges[{i}].{end}")
            attrs = {k: v for k, v in entry.items() if k not in ("src", "dst")}
            edges.append((entry["src"], entry["dst"], attrs))
        try:
            return cls(nodes, edges, meta=data.get("meta") or {})
        except ArchitectureError as exc:
            raise ArchitectureError(f"{source}: {exc}") from None

    def to_json(self, indent: int | None = None) -> str:
        if indent is None:
            if self._json_cache is None:
                self._json_cache = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
            return self._json_cache
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> Architecture:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArchitectureError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise ArchitectureError(f"{source}: invalid JSON: nested too deeply") from None
        try:
            return cls.from_dict(data, source)
        except RecursionError:  # deep nesting inside attribute values (json.dumps of attrs)
            raise ArchitectureError(f"{source}: attribute values nested too deeply") from None

    def save(self, path) -> None:
        with open(path, "w") as f:
            f.write(self.to_json(indent=1))

    @classmethod
    def load(cls, path) -> Architecture:
        with open(path) as f:
            return cls.from_json(f.read(), source=str(path))

    def key(self) -> str:
        """Exact identity: sha256 of the canonical JSON (same ids, attrs and edges)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def fingerprint(self, iterations: int = 3) -> str:
        """Weisfeiler-Lehman hash over node attrs and edge attrs: equal for relabelled (isomorphic) graphs.

        WL hashes can collide for rare non-isomorphic graphs; use `key()` when node ids matter.
        """
        g = nx.DiGraph()
        for n, a in self._graph.nodes(data=True):
            g.add_node(n, label=json.dumps(a, sort_keys=True))
        for u, v, a in self._graph.edges(data=True):
            g.add_edge(u, v, label=json.dumps(a, sort_keys=True))
        with warnings.catch_warnings():  # networkx 3.5 notes that directed hashes changed: ours are new
            warnings.simplefilter("ignore", UserWarning)
            return nx.weisfeiler_lehman_graph_hash(g, node_attr="label", edge_attr="label",
                                                   iterations=iterations, digest_size=16)

    def __eq__(self, other) -> bool:
        return isinstance(other, Architecture) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        name = self._meta.get("space", "arch")
        return f"Architecture<{name}: {len(self)} nodes, {self.num_edges()} edges, {self.key()}>"


def _sort_key(node: Hashable) -> tuple:
    """Ints before strs, each in natural order, so orders are deterministic for mixed ids."""
    return (0, node, "") if isinstance(node, int) else (1, 0, str(node))
