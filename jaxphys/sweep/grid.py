"""Sweep grids: named 1-D axes (outer product) or an explicit list of points.

A grid is given either as

* a dict ``name -> 1-D array`` (e.g. ``{"beta": [0.2, 0.4], "h": [0.0, 0.1, 0.2]}``): the points
  are the outer product of the axes in dict order, C order (the last axis varies fastest), and
  the result has one axis per name; or
* a list of dicts with the same names (e.g. ``[{"beta": 0.2, "n": 8}, {"beta": 0.4, "n": 16}]``):
  the points are taken as listed and the result has a single axis named ``"point"``; the value
  of each name along it is in ``coords[name]`` (shape ``(num_points,)``).

:func:`make_grid` checks the input (non-empty, 1-D, numeric, no NaN, same names everywhere) and
returns a :class:`Grid`, whose :meth:`Grid.point_values` lists every point's values in the global
order used by :func:`jaxphys.sweep.run`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

POINT_AXIS = "point"  # the single result axis of a grid given as a list of points
REPLICA_AXIS = "replica"  # the last result axis of every sweep


class Grid(NamedTuple):
    """A checked sweep grid.

    Attributes:
        kind: ``"product"`` (dict of axes) or ``"points"`` (list of points).
        names: the names of the values in each point, in order.
        axes: the result axes (without ``"replica"``): ``names`` for a product grid,
            ``("point",)`` for a list of points.
        shape: the length of each result axis.
        coords: name -> numpy array: the axis values (``(len(axis),)``) of a product grid, or each
            name's value at every point (``(num_points,)``) of a list of points.
    """

    kind: str
    names: tuple[str, ...]
    axes: tuple[str, ...]
    shape: tuple[int, ...]
    coords: dict[str, np.ndarray]

    @property
    def num_points(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def point_values(self) -> dict[str, np.ndarray]:
        """name -> value at every point, shape ``(num_points,)``, in the global (C) order."""
        if self.kind == "points":
            return dict(self.coords)
        mesh = np.meshgrid(*(self.coords[n] for n in self.names), indexing="ij")
        return {n: m.reshape(-1) for n, m in zip(self.names, mesh)}

    def fingerprint(self) -> str:
        """sha256 of the kind, names, dtypes and values (the grid part of a checkpoint fingerprint)."""
        h = hashlib.sha256(self.kind.encode())
        for name in self.names:
            v = np.ascontiguousarray(self.coords[name])
            h.update(f"|{name}|{v.dtype.str}|{v.shape}|".encode())
            h.update(v.tobytes())
        return h.hexdigest()


def _check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{where}: grid names must be non-empty strings, got {name!r}")
    if name == REPLICA_AXIS:
        raise ValueError(f"{where}: {REPLICA_AXIS!r} is reserved for the replica axis of the result; rename that grid axis")
    return name


def _check_values(values: np.ndarray, what: str) -> np.ndarray:
    if values.dtype.kind not in "biuf":
        raise TypeError(
            f"{what} must be numbers (bool, int or float), got dtype {values.dtype}; "
            "non-numeric settings belong in the closure of fn, not in the grid"
        )
    if values.dtype.kind == "f" and np.isnan(values).any():
        where = np.flatnonzero(np.isnan(values.reshape(-1))).tolist()
        raise ValueError(f"{what} contains NaN (at flat position(s) {where[:5]}); remove or replace it")
    return values


def make_grid(grid: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Grid:
    """Check a grid and return it as a :class:`Grid`.

    Args:
        grid: a dict ``name -> 1-D array-like`` (outer product, dict order, last axis fastest),
            or a non-empty list of dicts ``name -> scalar`` with the same names (a ``"point"`` axis).

    Returns:
        :class:`Grid`.

    Raises:
        TypeError: a grid that is neither a dict nor a list of dicts, non-string names,
            non-numeric values.
        ValueError: an empty grid or axis, an axis that is not 1-D, a NaN value, points with
            different names, the reserved name ``"replica"``.
    """
    if isinstance(grid, Mapping):
        if not grid:
            raise ValueError("grid is empty: give at least one axis, e.g. {'beta': np.linspace(0.1, 1.0, 10)}")
        coords = {}
        for name, axis in grid.items():
            _check_name(name, f"grid axis {name!r}")
            values = np.asarray(axis)
            if values.ndim != 1:
                hint = "wrap a single value in a list: [value]" if values.ndim == 0 else "flatten it, or give several named 1-D axes"
                raise ValueError(f"grid axis {name!r} must be 1-D, got shape {values.shape}; {hint}")
            if values.size == 0:
                raise ValueError(f"grid axis {name!r} is empty; give it at least one value")
            coords[name] = _check_values(values, f"grid axis {name!r}")
        names = tuple(coords)
        return Grid("product", names, names, tuple(len(coords[n]) for n in names), coords)
    if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence):
        raise TypeError(
            f"grid must be a dict name -> 1-D array (outer product) or a list of dicts name -> value (points), got {type(grid).__name__}"
        )
    if len(grid) == 0:
        raise ValueError("grid is an empty list of points; give at least one point, e.g. [{'beta': 0.5}]")
    first = grid[0]
    if not isinstance(first, Mapping) or not first:
        raise TypeError(f"each point of a list grid must be a non-empty dict name -> scalar, got {first!r} at position 0")
    names = tuple(_check_name(n, "point 0") for n in first)
    columns: dict[str, list] = {n: [] for n in names}
    for i, point in enumerate(grid):
        if not isinstance(point, Mapping):
            raise TypeError(f"point {i} of the grid must be a dict name -> scalar, got {type(point).__name__}")
        if set(point) != set(names):
            raise ValueError(
                f"point {i} has names {sorted(point)} but point 0 has {sorted(names)}; every point must give the same names"
            )
        for n in names:
            value = np.asarray(point[n])
            if value.ndim != 0:
                raise ValueError(f"point {i}: value of {n!r} must be a scalar, got shape {value.shape}")
            columns[n].append(value)
    coords = {n: _check_values(np.stack(columns[n]), f"values of {n!r} in the list of points") for n in names}
    return Grid("points", names, (POINT_AXIS,), (len(grid),), coords)
