"""The result of a sweep: per-item values on named axes, replica means and standard errors.

:class:`SweepResult` holds numpy arrays only (host memory). Every output leaf of ``fn`` becomes a
*field*, named by its pytree path joined with ``/`` (``{"e": ..., "chain": {"m": ...}}`` gives
fields ``"e"`` and ``"chain/m"``; a NamedTuple field gives its attribute name, a list entry
its index; a bare array returned by ``fn`` is the field ``"value"``).

Shapes, with ``grid_shape`` the lengths of the grid axes (``result.shape``) and ``R`` the number
of replicas::

    values[field]   (*grid_shape, R, *leaf_shape)   one entry per (point, replica)
    mean[field]     (*grid_shape, *leaf_shape)      float64 mean over replicas
    stderr[field]   (*grid_shape, *leaf_shape)      std(ddof=1) / sqrt(R); NaN when R == 1
    status          (*grid_shape,) int32            OR of every "status" leaf over replicas, or None
    bad             (*grid_shape, R) bool           items whose status is non-zero, or None

Status fields (a leaf whose last path entry is ``"status"`` with an integer dtype, the bitmask
of :mod:`jaxphys.status`) are not averaged: their ``mean`` is the OR over replicas and their
``stderr`` is zero. Bad items are kept in the means (a NaN shows; nothing is hidden): use
``bad`` to select.

File format (:meth:`SweepResult.save`, ``PATH`` without extension): ``PATH.npz`` holds the
arrays, readable with numpy alone (``np.load("PATH.npz")``)::

    coords/<name>      grid values of each name (the axis, or each name's value at each point)
    values/<field>     (*grid_shape, R, *leaf_shape)
    mean/<field>       (*grid_shape, *leaf_shape)
    stderr/<field>     (*grid_shape, *leaf_shape)
    status, bad        only when fn returns a status field

and ``PATH.json`` is the sidecar: ``{"format": "jaxphys.sweep.result", "version": 1,
"axes": [...grid axes..., "replica"], "shape": [...grid_shape..., R], "grid_kind": "product" |
"points", "names": [...], "fields": [...], "tree": [[field, [[kind, key], ...]], ...],
"status_fields": [...], "num_bad": int, "info": {...}}``. ``tree`` gives each field's path
(kind ``"key"`` for a dict key or attribute, ``"index"`` for a list entry), from which
:meth:`SweepResult.load` rebuilds nested dicts and lists (NamedTuples come back as dicts).
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np

from .. import status as st

FORMAT = "jaxphys.sweep.result"
VERSION = 1


def _path_entry(key) -> list:
    if isinstance(key, jax.tree_util.SequenceKey):
        return ["index", int(key.idx)]
    if isinstance(key, jax.tree_util.DictKey):
        return ["key", str(key.key)]
    if isinstance(key, jax.tree_util.GetAttrKey):
        return ["key", str(key.name)]
    if isinstance(key, jax.tree_util.FlattenedIndexKey):
        return ["index", int(key.key)]
    return ["key", str(key)]


def leaf_paths(tree) -> tuple[list[str], list[list]]:
    """Field names (``"/"``-joined paths) and path entries of every leaf of ``tree``, in flatten order."""
    with_paths, _ = jax.tree_util.tree_flatten_with_path(tree)
    entries = [[_path_entry(k) for k in path] for path, _ in with_paths]
    names = ["/".join(str(e[1]) for e in path) or "value" for path in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"fn's output has leaves whose paths collide when joined with '/': {names}; rename the keys")
    return names, entries


def _unflatten(entries: list[list], leaves: list):
    """Nested dicts/lists from path entries (the inverse of :func:`leaf_paths` up to container types)."""
    if len(entries) == 1 and not entries[0]:
        return leaves[0]
    root: dict = {}
    for path, leaf in zip(entries, leaves):
        node = root
        for kind, key in path[:-1]:
            node = node.setdefault((kind, key), {})
        node[tuple(path[-1])] = leaf

    def build(node):
        if not isinstance(node, dict):
            return node
        if all(kind == "index" for kind, _ in node):
            return [build(node[k]) for k in sorted(node, key=lambda k: k[1])]
        return {key: build(value) for (_, key), value in node.items()}

    return build(root)


def is_status_leaf(entries: list, dtype) -> bool:
    return bool(entries) and entries[-1][1] == "status" and np.issubdtype(np.dtype(dtype), np.integer)


class SweepResult:
    """Result of :func:`jaxphys.sweep.run` (see the module docstring for shapes and the file format).

    Attributes:
        axes: result axis names, the grid axes then ``"replica"``.
        coords: name -> grid values (numpy).
        grid_kind: ``"product"`` or ``"points"``.
        values, mean, stderr: pytrees shaped like ``fn``'s output (nested dicts/lists after
            :meth:`load`), leaves as in the module docstring.
        status: ``(*grid_shape,)`` int32 OR of the status fields over replicas, or None.
        bad: ``(*grid_shape, R)`` bool, items with a non-zero status, or None.
        num_bad: number of bad items (0 without status fields).
        info: how the sweep ran: ``num_items``, ``num_chunks``, ``chunk_size``, ``num_devices``,
            ``num_processes``, ``chunks_computed`` and ``chunks_loaded`` (by this process;
            loaded = found in the checkpoint), ``compilations``.
    """

    def __init__(self, *, axes, coords, grid_kind, names, fields, entries, values, info):
        self.axes = tuple(axes)
        self.coords = {k: np.asarray(v) for k, v in coords.items()}
        self.grid_kind = grid_kind
        self.names = tuple(names)
        self.fields = list(fields)
        self._entries = [list(map(list, e)) for e in entries]
        self._values = {f: np.asarray(values[f]) for f in self.fields}
        self.info = dict(info)
        grid_ndim = len(self.axes) - 1
        self.status_fields = [f for f, e in zip(self.fields, self._entries) if is_status_leaf(e, self._values[f].dtype)]
        self._mean, self._stderr = {}, {}
        r = self.replicas
        for f in self.fields:
            v = self._values[f]
            if f in self.status_fields:
                self._mean[f] = np.bitwise_or.reduce(v.astype(np.int32), axis=grid_ndim)
                self._stderr[f] = np.zeros_like(self._mean[f])
                continue
            x = v.astype(np.complex128 if np.iscomplexobj(v) else np.float64)
            self._mean[f] = x.mean(axis=grid_ndim)
            if r > 1:
                self._stderr[f] = x.std(axis=grid_ndim, ddof=1) / np.sqrt(r)
            else:
                self._stderr[f] = np.full(self._mean[f].shape, np.nan)
        if self.status_fields:
            bad = np.zeros((*self.shape, r), bool)
            word = np.zeros(self.shape, np.int32)
            for f in self.status_fields:
                v = self._values[f].astype(np.int32).reshape(*self.shape, r, -1)
                bad |= (v != 0).any(axis=-1)
                word |= np.bitwise_or.reduce(np.bitwise_or.reduce(v, axis=-1), axis=-1)
            self.bad, self.status, self.num_bad = bad, word, int(bad.sum())
        else:
            self.bad, self.status, self.num_bad = None, None, 0

    # --- shapes -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Lengths of the grid axes (without the replica axis)."""
        return tuple(self._values[self.fields[0]].shape[: len(self.axes) - 1])

    @property
    def replicas(self) -> int:
        return int(self._values[self.fields[0]].shape[len(self.axes) - 1])

    # --- pytrees and flat access --------------------------------------------------------------
    @property
    def values(self):
        """Per-item values, pytree of ``(*grid_shape, R, *leaf_shape)`` arrays."""
        return self._tree(self._values)

    @property
    def mean(self):
        """Means over replicas (OR for status fields), pytree of ``(*grid_shape, *leaf_shape)``."""
        return self._tree(self._mean)

    @property
    def stderr(self):
        """Standard errors of :attr:`mean`, ``std(ddof=1)/sqrt(R)`` (NaN if R == 1, 0 for status)."""
        return self._tree(self._stderr)

    def _tree(self, flat: dict[str, np.ndarray]):
        if self._treedef is not None:
            return jax.tree_util.tree_unflatten(self._treedef, [flat[f] for f in self.fields])
        return _unflatten(self._entries, [flat[f] for f in self.fields])

    _treedef = None  # set by sweep.run to give back fn's own containers (NamedTuples...)

    def field(self, name: str, which: str = "mean") -> np.ndarray:
        """One field by its ``/``-joined name; ``which`` is ``"mean"``, ``"stderr"`` or ``"values"``.

        Raises:
            KeyError: unknown field (the message lists the fields).
            ValueError: unknown ``which``.
        """
        table = {"mean": self._mean, "stderr": self._stderr, "values": self._values}
        if which not in table:
            raise ValueError(f"which must be 'mean', 'stderr' or 'values', got {which!r}")
        if name not in table[which]:
            raise KeyError(f"no field {name!r}; fields are {self.fields}")
        return table[which][name]

    def __repr__(self) -> str:
        axes = ", ".join(f"{a}={n}" for a, n in zip(self.axes, (*self.shape, self.replicas)))
        return f"SweepResult({axes}; fields {self.fields}; bad items {self.num_bad})"

    # --- plotting -----------------------------------------------------------------------------
    def plot(self, field: str, *, x: str | None = None, y: str | None = None, ax=None, **kwargs):
        """Plot a scalar field: curves against ``x`` or a 2D phase diagram over ``(x, y)``.

        See :func:`jaxphys.plot.sweep.plot_sweep` (matplotlib is imported only here).
        """
        from ..plot.sweep import plot_sweep

        return plot_sweep(self, field, x=x, y=y, ax=ax, **kwargs)

    # --- files --------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> tuple[str, str]:
        """Write ``PATH.npz`` and ``PATH.json`` (layout in the module docstring); returns both paths.

        A trailing ``.npz`` or ``.json`` on ``path`` is dropped. Files are written atomically.
        """
        from .checkpoint import _atomic_write

        base = _base(path)
        arrays = {f"coords/{n}": v for n, v in self.coords.items()}
        for f in self.fields:
            arrays[f"values/{f}"] = self._values[f]
            arrays[f"mean/{f}"] = self._mean[f]
            arrays[f"stderr/{f}"] = self._stderr[f]
        if self.status is not None:
            arrays["status"], arrays["bad"] = self.status, self.bad
        sidecar = {
            "format": FORMAT,
            "version": VERSION,
            "axes": list(self.axes),
            "shape": [*self.shape, self.replicas],
            "grid_kind": self.grid_kind,
            "names": list(self.names),
            "fields": self.fields,
            "tree": [[f, e] for f, e in zip(self.fields, self._entries)],
            "status_fields": self.status_fields,
            "num_bad": self.num_bad,
            "info": self.info,
        }
        dirname = os.path.dirname(base)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        _atomic_write(base + ".npz", lambda f: np.savez(f, **arrays))
        text = json.dumps(sidecar, indent=1).encode()
        _atomic_write(base + ".json", lambda f: f.write(text))
        return base + ".npz", base + ".json"

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SweepResult":
        """Read a result written by :meth:`save` (``PATH``, ``PATH.npz`` or ``PATH.json``).

        Raises:
            FileNotFoundError: a missing file; ValueError: not a jaxphys sweep result.
        """
        base = _base(path)
        with open(base + ".json") as f:
            sidecar = json.load(f)
        if sidecar.get("format") != FORMAT:
            raise ValueError(f"{base}.json is not a jaxphys sweep result sidecar (format {sidecar.get('format')!r})")
        if sidecar.get("version", 0) > VERSION:
            raise ValueError(f"{base}.json has format version {sidecar['version']}; this jaxphys reads up to {VERSION}: upgrade jaxphys")
        with np.load(base + ".npz") as data:
            names = sidecar["names"]
            coord_names = names if sidecar["grid_kind"] == "points" else sidecar["axes"][:-1]
            coords = {n: data[f"coords/{n}"] for n in coord_names}
            values = {f: data[f"values/{f}"] for f in sidecar["fields"]}
        return cls(
            axes=sidecar["axes"],
            coords=coords,
            grid_kind=sidecar["grid_kind"],
            names=names,
            fields=sidecar["fields"],
            entries=[e for _, e in sidecar["tree"]],
            values=values,
            info=sidecar.get("info", {}),
        )

    def describe_status(self) -> str:
        """A line per distinct non-zero status word: how many points carry it and what it means."""
        if self.status is None or self.num_bad == 0:
            return "all items ok"
        words, counts = np.unique(self.status[self.status != 0], return_counts=True)
        lines = [f"{self.num_bad} bad item(s) of {int(np.prod(self.shape)) * self.replicas}"]
        lines += [f"status {int(w)} at {int(c)} point(s): {st.describe(int(w))}" for w, c in zip(words, counts)]
        return "\n".join(lines)


def _base(path: str | os.PathLike) -> str:
    base = os.fspath(path)
    for ext in (".npz", ".json"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base


def load(path: str | os.PathLike) -> SweepResult:
    """Read a saved sweep result; see :meth:`SweepResult.load`."""
    return SweepResult.load(path)


def from_flat(grid, values: dict[str, np.ndarray], names: list[str], entries: list[list], info: dict[str, Any], treedef=None) -> SweepResult:
    """Build a result from a checked grid and ``field -> (*grid_shape, R, *leaf_shape)`` arrays."""
    result = SweepResult(
        axes=(*grid.axes, "replica"),
        coords=grid.coords,
        grid_kind=grid.kind,
        names=grid.names,
        fields=names,
        entries=entries,
        values=values,
        info=info,
    )
    result._treedef = treedef
    return result
