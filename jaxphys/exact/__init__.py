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
from .transfer_matrix import MAX_WIDTH as MAX_WIDTH, TransferMatrixResult as TransferMatrixResult, ising_2d as ising_2d
from .closed_forms import (
    CurieWeissMeanField as CurieWeissMeanField,
    CurieWeissResult as CurieWeissResult,
    curie_weiss as curie_weiss,
    curie_weiss_mean_field as curie_weiss_mean_field,
    ising_1d_energy as ising_1d_energy,
    ising_1d_free_energy as ising_1d_free_energy,
    ising_1d_log_partition_function as ising_1d_log_partition_function,
    ising_1d_magnetization as ising_1d_magnetization,
    kaufman_energy as kaufman_energy,
    kaufman_log_partition_function as kaufman_log_partition_function,
    kaufman_specific_heat as kaufman_specific_heat,
    onsager_critical_beta as onsager_critical_beta,
    onsager_critical_temperature as onsager_critical_temperature,
    onsager_energy as onsager_energy,
    onsager_free_energy as onsager_free_energy,
    onsager_magnetization as onsager_magnetization,
)
