"""Energies as equinox Modules. See ``base.py`` for the spin-model protocol."""

from .base import SpinModel as SpinModel
from .ising import Ising as Ising
from .pairwise import PairwiseIsing as PairwiseIsing
from .hopfield import Hopfield as Hopfield
from .hopfield import ZeroTemperatureResult as ZeroTemperatureResult
from .hopfield import mattis_overlaps as mattis_overlaps
from .hopfield import zero_temperature_dynamics as zero_temperature_dynamics
from .rbm import RBM as RBM, RBMVisible as RBMVisible
from .spin_glass import (
    SK as SK,
    BipartiteSK as BipartiteSK,
    CurieWeiss as CurieWeiss,
    DilutedPSpin as DilutedPSpin,
    EdwardsAnderson as EdwardsAnderson,
    PSpin as PSpin,
)
