"""Exact references: enumeration of small systems, transfer matrices, closed forms."""

from .enumeration import (
    MAX_SPINS as MAX_SPINS,
    averages as averages,
    beta_derivative as beta_derivative,
    configurations as configurations,
    energies as energies,
    log_partition_function as log_partition_function,
    probabilities as probabilities,
)
