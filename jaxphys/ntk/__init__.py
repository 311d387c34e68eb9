"""Neural tangent kernels: empirical kernels of finite networks, analytic infinite-width kernels
(NNGP and NTK), kernel regression, and kernel spectra (collective variables) tracked in training.
"""

from .networks import MLP as MLP
from .empirical import empirical_ntk as empirical_ntk
from . import analytic as analytic, regression as regression, spectra as spectra
