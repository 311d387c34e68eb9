"""Monte Carlo samplers (``Sampler(init, step)``) and the chain driver ``run``."""

from .base import Sampler as Sampler, SpinState as SpinState, SweepInfo as SweepInfo, random_spins as random_spins
from .run import RunResult as RunResult, combine as combine, derived as derived, run as run
from .single_site import heatbath as heatbath, metropolis as metropolis
from .cluster import wolff as wolff
from .checkerboard import CheckerboardState as CheckerboardState, checkerboard as checkerboard
from . import random as random
from .tempering import (
    TemperingInfo as TemperingInfo,
    TemperingState as TemperingState,
    TemperingStatistics as TemperingStatistics,
    adapt_ladder as adapt_ladder,
    tempering as tempering,
    tempering_statistics as tempering_statistics,
)
from .block_gibbs import BlockGibbsState as BlockGibbsState, block_gibbs as block_gibbs
from .dense import dense as dense
from .ais import AISResult as AISResult, ais as ais, log_mean_exp as log_mean_exp, rbm_ais as rbm_ais
from .hmc import ContinuousState as ContinuousState, HMCInfo as HMCInfo, LangevinInfo as LangevinInfo, adapt_step_size as adapt_step_size, hmc as hmc, langevin as langevin, mala as mala
