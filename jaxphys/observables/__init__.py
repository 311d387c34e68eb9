"""Observables ``(model, spins) -> pytree`` and the statistics of their Monte Carlo averages."""

from . import stats as stats
from . import thermodynamic as thermodynamic
from .thermodynamic import (
    STANDARD as STANDARD,
    abs_magnetization as abs_magnetization,
    binder_cumulant as binder_cumulant,
    energy as energy,
    magnetization as magnetization,
    specific_heat as specific_heat,
    susceptibility as susceptibility,
)
from . import overlaps as overlaps
from . import response as response
