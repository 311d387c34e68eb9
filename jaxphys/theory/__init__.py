"""Mean-field and replica theory: Gaussian quadrature, fixed-point solvers with implicit
derivatives, and one module per solved model (replica-symmetric order parameters, free
energies, stability lines).
"""

from . import quadrature as quadrature, fixed_point as fixed_point
from . import curie_weiss as curie_weiss
from . import sk as sk
from . import rem as rem
from . import perceptron as perceptron
from . import teacher_student as teacher_student
from . import hopfield as hopfield
from . import signal_propagation as signal_propagation, dmft as dmft
from . import archetype as archetype
from . import state_evolution as state_evolution
from . import online as online
from . import rmt as rmt
from . import random_features as random_features
from . import committee as committee
from . import kernel_renormalization as kernel_renormalization
