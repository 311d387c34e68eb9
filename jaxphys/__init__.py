"""jaxphys: the statistical physics of learning in JAX.

Energies (``models``), exact references (``exact``), Monte Carlo samplers and the chain driver
(``mc``), observables and their statistics (``observables``).
"""

from . import exact as exact, mc as mc, models as models, observables as observables, status as status, theory as theory
from . import sweep as sweep
from . import learning as learning
from . import ntk as ntk

__version__ = "0.1.0"
