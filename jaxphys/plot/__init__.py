"""Matplotlib helpers (host only; core modules never import this package)."""

from .ising import phase_transition_figure as phase_transition_figure
