"""Matplotlib helpers (host only; core modules never import this package)."""

from .ising import phase_transition_figure as phase_transition_figure
from .rmt import spectrum_figure as spectrum_figure, complex_spectrum_figure as complex_spectrum_figure
