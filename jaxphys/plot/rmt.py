"""Figures of random-matrix spectra against their limiting laws (:mod:`jaxphys.theory.rmt`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _axes(ax, figsize):
    import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, constrained_layout=True)
        return fig, ax
    return ax.figure, ax


def spectrum_figure(
    eigenvalues,
    density: Callable | None = None,
    *,
    atom: float = 0.0,
    bins: int = 60,
    ax=None,
    label: str = "sampled spectrum",
    density_label: str = "limiting density",
    title: str | None = None,
):
    """Histogram of real eigenvalues (normalised as a probability density) against a limiting density.

    Args:
        eigenvalues: real eigenvalues, any shape (flattened; several matrices may be pooled).
        density: vectorised callable ``x -> rho(x)`` (e.g. ``lambda x: rmt.semicircle_density(x)``),
            drawn on a fine grid across the histogram; None draws no curve.
        atom: weight of a point mass at 0 (Marchenko-Pastur with ``ratio > 1``): eigenvalues with
            ``|x| < 1e-9 max|x|`` are left out of the histogram, which is scaled by ``1 - atom``,
            and the atom is noted in the legend.
        bins: histogram bins; ax: matplotlib axes to draw on (a new figure if None).

    Returns:
        the ``matplotlib.figure.Figure``.

    Raises:
        ValueError: no finite eigenvalues, complex input, or ``atom`` outside ``[0, 1)``.
    """
    values = np.asarray(eigenvalues).ravel()
    if np.iscomplexobj(values):
        raise ValueError("spectrum_figure draws real spectra; use complex_spectrum_figure for complex eigenvalues")
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("eigenvalues must hold at least one finite value")
    if not 0.0 <= atom < 1.0:
        raise ValueError(f"atom must be a weight in [0, 1), got {atom}")
    fig, ax = _axes(ax, (5, 3.5))
    if atom > 0:
        values = values[np.abs(values) >= 1e-9 * np.max(np.abs(values))]
    counts, edges = np.histogram(values, bins=bins)
    width = np.diff(edges)
    heights = counts / (max(counts.sum(), 1) * width) * (1.0 - atom)
    ax.bar(edges[:-1], heights, width=width, align="edge", alpha=0.5, color="C0", label=label)
    if density is not None:
        pad = 0.05 * (edges[-1] - edges[0])
        grid = np.linspace(edges[0] - pad, edges[-1] + pad, 800)
        curve_label = density_label + (f" (+ atom {atom:.3g} at 0)" if atom > 0 else "")
        ax.plot(grid, np.asarray(density(grid)), "k-", lw=1.5, label=curve_label)
    ax.set_xlabel(r"eigenvalue $\lambda$")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def complex_spectrum_figure(
    eigenvalues,
    boundary=None,
    *,
    ax=None,
    label: str = "eigenvalues",
    boundary_label: str = "support of the limiting law",
    title: str | None = None,
    marker_size: float = 3.0,
):
    """Scatter plot of complex eigenvalues with the boundary of the limiting support.

    Args:
        eigenvalues: complex eigenvalues, any shape (flattened).
        boundary: complex points on the closed boundary curve (e.g. ``rmt.ellipse_boundary(tau)`` or
            ``rmt.rate_jacobian_support(g, eta).boundary()``), or a list of such curves; None for none.
        ax: matplotlib axes to draw on (a new figure if None).

    Returns:
        the ``matplotlib.figure.Figure``.

    Raises:
        ValueError: no finite eigenvalues.
    """
    values = np.asarray(eigenvalues).ravel().astype(complex)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("eigenvalues must hold at least one finite value")
    fig, ax = _axes(ax, (4.5, 4.5))
    ax.scatter(values.real, values.imag, s=marker_size, alpha=0.6, color="C0", label=label, linewidths=0)
    curves = [] if boundary is None else boundary if isinstance(boundary, (list, tuple)) else [boundary]
    for index, curve in enumerate(curves):
        curve = np.asarray(curve).ravel()
        ax.plot(curve.real, curve.imag, "k-" if index == 0 else "k--", lw=1.2, label=boundary_label if index == 0 else None)
    ax.axvline(0.0, color="grey", lw=0.5)
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(r"Re $\lambda$")
    ax.set_ylabel(r"Im $\lambda$")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    return fig
