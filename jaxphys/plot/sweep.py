"""Figures of sweep results: curves with error bars against one axis, 2D phase diagrams.

Used by :meth:`jaxphys.sweep.SweepResult.plot`; matplotlib is imported inside the functions.
"""

from __future__ import annotations

import numpy as np


def _scalar_field(result, field: str):
    mean, err = result.field(field, "mean"), result.field(field, "stderr")
    grid_ndim = len(result.axes) - 1
    if mean.ndim != grid_ndim:
        raise ValueError(
            f"field {field!r} has per-item shape {mean.shape[grid_ndim:]}; plot needs a scalar field "
            "(return a scalar from fn, or plot an element yourself from result.field(name))"
        )
    return mean, err


def plot_sweep(result, field: str, *, x: str | None = None, y: str | None = None, ax=None, errorbars: bool = True, **kwargs):
    """Plot the replica mean of a scalar field of a sweep.

    * 1D curves (``y`` None, or a 1-axis grid): the mean against grid axis ``x`` (default the first
      axis) with ``stderr`` error bars, one curve per combination of the other axes' values
      (labelled by them). For a list-of-points grid, ``x`` names one of the point values.
    * 2D phase diagram (``y`` given, or a 2-axis product grid with neither ``x`` nor ``y``): the
      mean as a colour map over the ``(x, y)`` axes (``pcolormesh``; for a list of points a
      scatter coloured by the mean); a colour bar is added.

    Args:
        result: a :class:`jaxphys.sweep.SweepResult`.
        field: a scalar field name (``result.fields``).
        x, y: grid axis names (or point names for a list-of-points grid).
        ax: matplotlib Axes to draw into; default a new figure.
        errorbars: draw ``stderr`` error bars on curves (skipped when it is NaN, one replica).
        **kwargs: passed to ``errorbar``/``pcolormesh``/``scatter``.

    Returns:
        the matplotlib Axes.

    Raises:
        KeyError: unknown field; ValueError: unknown axis, a non-scalar field, a 2D plot of a grid
        with more than two axes of length > 1.
    """
    import matplotlib.pyplot as plt

    mean, err = _scalar_field(result, field)
    grid_axes = list(result.axes[:-1])
    choices = list(result.names) if result.grid_kind == "points" else grid_axes
    for name in (x, y):
        if name is not None and name not in choices:
            raise ValueError(f"unknown axis {name!r}; choose among {choices}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
    two_d = y is not None or (x is None and result.grid_kind == "product" and len(grid_axes) == 2)
    if result.grid_kind == "points":
        x = x or result.names[0]
        if two_d:
            art = ax.scatter(result.coords[x], result.coords[y], c=mean, **kwargs)
            ax.figure.colorbar(art, ax=ax, label=field)
            ax.set_ylabel(y)
        else:
            order = np.argsort(result.coords[x], kind="stable")
            yerr = err[order] if errorbars and np.isfinite(err).any() else None
            ax.errorbar(result.coords[x][order], mean[order], yerr=yerr, marker="o", ms=3, capsize=2, **kwargs)
            ax.set_ylabel(field)
        ax.set_xlabel(x)
        return ax
    if two_d:
        x = x or grid_axes[0]
        y = y or next(a for a in grid_axes if a != x)
        others = [a for a in grid_axes if a not in (x, y)]
        if any(mean.shape[grid_axes.index(a)] > 1 for a in others):
            raise ValueError(f"a 2D plot over ({x}, {y}) needs the other axes {others} to have length 1; select a slice first")
        order = [grid_axes.index(y), grid_axes.index(x)] + [grid_axes.index(a) for a in others]
        z = np.transpose(mean, order).reshape(mean.shape[order[0]], mean.shape[order[1]])
        art = ax.pcolormesh(result.coords[x], result.coords[y], z, shading="nearest", **kwargs)
        ax.figure.colorbar(art, ax=ax, label=field)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        return ax
    x = x or grid_axes[0]
    ix = grid_axes.index(x)
    others = [a for a in grid_axes if a != x]
    m = np.moveaxis(mean, ix, -1).reshape(-1, mean.shape[ix])
    e = np.moveaxis(err, ix, -1).reshape(-1, mean.shape[ix])
    labels = [
        ", ".join(f"{a}={result.coords[a][i]:.4g}" for a, i in zip(others, index))
        for index in np.ndindex(*[len(result.coords[a]) for a in others])
    ]
    prefix = kwargs.pop("label", None)  # a caller's label names the whole family of curves
    for curve, curve_err, label in zip(m, e, labels):
        yerr = curve_err if errorbars and np.isfinite(curve_err).any() else None
        label = ", ".join(part for part in (prefix, label) if part) or None
        ax.errorbar(result.coords[x], curve, yerr=yerr, marker="o", ms=3, capsize=2, label=label, **kwargs)
    if others:
        ax.legend(fontsize=8)
    ax.set_xlabel(x)
    ax.set_ylabel(field)
    return ax
