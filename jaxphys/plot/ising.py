"""Figures of the 2D Ising phase transition: Binder cumulant and susceptibility against T."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def phase_transition_figure(
    temperatures: Sequence[float],
    curves: Mapping[int, Mapping[str, Sequence[float]]],
    *,
    critical_temperature: float | None = None,
    estimate: float | None = None,
):
    """Two panels, Binder cumulant U_4(T) and susceptibility chi(T), one curve per lattice size.

    Args:
        temperatures: the T grid, shape (num_T,).
        curves: L -> {"binder", "binder_err", "susceptibility", "susceptibility_err"}, each (num_T,).
        critical_temperature: exact T_c to mark (Onsager), optional.
        estimate: estimated T_c (Binder crossing) to mark, optional.

    Returns:
        the ``matplotlib.figure.Figure``.
    """
    import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves

    t = np.asarray(temperatures)
    fig, (ax_u, ax_chi) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for size, c in sorted(curves.items()):
        ax_u.errorbar(t, c["binder"], yerr=c["binder_err"], marker="o", ms=3, capsize=2, label=f"L = {size}")
        ax_chi.errorbar(t, c["susceptibility"], yerr=c["susceptibility_err"], marker="o", ms=3, capsize=2, label=f"L = {size}")
    for ax in (ax_u, ax_chi):
        if critical_temperature is not None:
            ax.axvline(critical_temperature, color="k", ls="--", lw=1, label=f"Onsager $T_c$ = {critical_temperature:.4f}")
        if estimate is not None and np.isfinite(estimate):
            ax.axvline(estimate, color="C3", ls=":", lw=1.5, label=f"Binder crossing {estimate:.4f}")
        ax.set_xlabel("temperature $T$")
        ax.legend(fontsize=8)
    ax_u.set_ylabel(r"Binder cumulant $U_4 = 1 - \langle m^4\rangle / 3\langle m^2\rangle^2$")
    ax_chi.set_ylabel(r"susceptibility $\chi = \beta N(\langle m^2\rangle - \langle|m|\rangle^2)$")
    ax_chi.set_yscale("log")
    fig.suptitle("2D Ising model: finite-size scaling of the phase transition")
    return fig
