"""Energies as equinox Modules. See ``base.py`` for the spin-model protocol."""

from .base import SpinModel as SpinModel
from .ising import Ising as Ising
from .pairwise import PairwiseIsing as PairwiseIsing
