"""Exact thermodynamics of the periodic 2D Ising model by the row-to-row transfer matrix.

For an ``M x L`` lattice (``M`` rows of ``L`` spins, periodic in both directions) with

    E(s) = -J sum_<ij> s_i s_j - h sum_i s_i,        weight exp(K B(s) + H M(s)),

where ``K = beta J``, ``H = beta h``, ``B`` is the bond sum and ``M`` the magnetization, the
partition function is the full trace (not only the largest eigenvalue)

    Z = Tr (D V)^M,    D = diag exp(K B_row(r) + H M_row(r)),    V = v (x) v (x) ... (x) v,

over the ``2^L`` row states ``r``, with ``v = [[e^K, e^-K], [e^-K, e^K]]`` one per column (the
vertical bonds). ``Tr (D V)^M = Tr (D^1/2 V D^1/2)^M`` by cyclicity. Two structural facts make
it cheap:

* ``v = w diag(2 cosh K, 2 sinh K) w`` with ``w`` the normalised 2 x 2 Hadamard matrix, so
  ``V = H Lambda H / 2^L`` with ``H`` the (unnormalised, +-1) Walsh-Hadamard matrix and
  ``Lambda(u) = (2 cosh K)^(L - |u|) (2 sinh K)^|u|`` diagonal (``|u|`` = number of set bits).
  Applying ``V`` costs two fast Walsh-Hadamard transforms (``L 2^L`` additions per column),
  and every ``eps`` dependence of ``V`` sits in the diagonal ``Lambda``.
* ``D V`` commutes with the cyclic shifts and the reversal of a row, so ``<r|(D V)^M|r>`` is the
  same for the ``<= 2 L`` images of ``r``: only one representative per class is propagated
  (224 columns instead of 4096 at ``L = 12``), weighted by the class size.

Moments come from exact truncated Taylor arithmetic instead of finite differences: along a
direction ``(dK, dH)`` every diagonal factor is a power series in ``eps``
(``D(eps) = D exp(eps (dK B_row + dH M_row))``, ``Lambda`` from the series of ``cosh`` and
``sinh``), and the propagated matrices are carried as series to order ``n``. Then

    Z(K + dK eps, H + dH eps) / Z = sum_k <X^k> eps^k / k!,    X = dK B + dH M,

so ``(dK, dH) = (-J, -h)`` gives the raw moments ``<E^k>`` and ``(0, 1)`` gives ``<M^k>``, with
no logarithm or cancellation (the energy variance is taken about ``<E>`` from a first pass).
Cost: about ``M (n L + n^2) 4^L / (2 L)`` floating-point operations for series order ``n``
(``2^L / (2L)`` columns, a Walsh-Hadamard transform of ``L 2^L`` additions and ``n^2``
series products per column and row); 0.2 s at ``L = 10`` and ~5 s at ``L = 12`` on one busy core. Everything is float64 numpy on the host: these are reference values
(agreement with enumeration and with Kaufman's formula is ~1e-12 relative).

References: H. A. Kramers and G. H. Wannier, Phys. Rev. 60, 252 (1941) (the transfer matrix);
B. Kaufman, Phys. Rev. 76, 1232 (1949) (its spinor analysis and the ``(2 sinh K)`` form of ``V``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

MAX_WIDTH = 12
"""Largest row width: 2^12 = 4096 row states (peak memory ~ 150 MB, ~5 s on one core)."""


class TransferMatrixResult(NamedTuple):
    """Exact averages of the 2D Ising model (float64 Python floats, per spin unless stated).

    Fields:
        log_partition_function: ``ln Z`` (extensive, not per spin).
        free_energy: ``f = -ln Z / (beta N)`` (``-inf`` at ``beta = 0``).
        energy: ``<e>``, ``e = E / N`` (E includes the field term ``-h M``).
        energy2: ``<e^2>``.
        specific_heat: ``C = beta^2 N (<e^2> - <e>^2) = -beta^2 d<e>/dbeta`` (at fixed J, h).
        magnetization: ``<m>``, ``m = M / N`` (0 at ``h = 0`` by the up-down symmetry).
        m2: ``<m^2>``.
        m4: ``<m^4>``.
    """

    log_partition_function: float
    free_energy: float
    energy: float
    energy2: float
    specific_heat: float
    magnetization: float
    m2: float
    m4: float


def _lattice_sides(L) -> tuple[int, int]:
    """``(num_rows, width)`` with the shorter side as the transfer direction's width."""
    if isinstance(L, (tuple, list)):
        if len(L) != 2:
            raise ValueError(f"L must be an int (L x L lattice) or a pair (rows, cols), got {L!r}")
        sides = tuple(L)
    else:
        sides = (L, L)
    for side in sides:
        if isinstance(side, bool) or not isinstance(side, (int, np.integer)):
            raise TypeError(f"lattice sides must be ints, got {L!r}")
    rows, cols = (int(s) for s in sides)
    if min(rows, cols) < 2:
        raise ValueError(f"every lattice side must be >= 2 (the Ising model's convention), got {L!r}")
    width, num_rows = min(rows, cols), max(rows, cols)
    if width > MAX_WIDTH:
        raise ValueError(
            f"the transfer matrix handles a shorter side of at most {MAX_WIDTH} (2^{MAX_WIDTH} row states), "
            f"got {L!r}; at h = 0 use jaxphys.exact.kaufman_log_partition_function / kaufman_energy "
            "(any size), otherwise Monte Carlo"
        )
    return num_rows, width


def _concrete_float(value, name: str) -> float:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got the bool {value!r}")
    try:
        out = float(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a concrete real number: ising_2d runs in numpy on the host and cannot be traced "
            "under jit/vmap; call it in a Python loop over the values you need"
        ) from None
    except Exception as error:  # a jax tracer raises ConcretizationTypeError here
        raise TypeError(
            f"{name} must be a concrete real number, not a traced value (ising_2d runs in numpy on the host; "
            "call it outside jit/vmap)"
        ) from error
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def _symmetry_classes(width: int) -> tuple[np.ndarray, np.ndarray]:
    """One representative per class of row states under cyclic shifts and reversal, and class sizes.

    ``D V`` commutes with both (the dihedral symmetry of a periodic row), so ``<r|(D V)^M|r>`` is
    constant on a class.
    """
    states = np.arange(1 << width, dtype=np.int64)
    mask = (1 << width) - 1
    reversed_states = np.zeros_like(states)
    for bit in range(width):
        reversed_states |= ((states >> bit) & 1) << (width - 1 - bit)
    smallest = np.minimum(states, reversed_states)
    for shift in range(1, width):
        for row in (states, reversed_states):
            rotated = ((row << shift) | (row >> (width - shift))) & mask
            smallest = np.minimum(smallest, rotated)
    representatives, counts = np.unique(smallest, return_counts=True)
    return representatives, counts


def _row_sums(width: int) -> tuple[np.ndarray, np.ndarray]:
    """In-row bond sum ``sum_j s_j s_(j+1 mod L)`` and ``sum_j s_j`` of every row state (float64).

    Bit ``j`` set means ``s_j = -1``, as in :func:`jaxphys.exact.configurations`. For ``L = 2``
    the periodic bond is counted twice, the convention of :class:`jaxphys.models.Ising`.
    """
    states = np.arange(1 << width, dtype=np.int64)
    spins = 1.0 - 2.0 * ((states[:, None] >> np.arange(width)) & 1)
    bonds = np.sum(spins * np.roll(spins, -1, axis=1), axis=1)
    return bonds, np.sum(spins, axis=1)


def _walsh_hadamard(x: np.ndarray) -> None:
    """In place: ``x[k] <- H x[k]`` on axis 1 (size ``2^L``), ``H[u, s] = (-1)^popcount(u & s)``.

    Fast transform, one butterfly ``(a, b) -> (a + b, a - b)`` per bit: ``O(L 2^L)`` additions per
    column and no BLAS call (multi-threaded BLAS on a busy machine was 4x slower here).
    """
    n, size, cols = x.shape
    for bit in range(size.bit_length() - 1):
        pairs = x.reshape(n, size >> (bit + 1), 2, (1 << bit) * cols)
        upper, lower = pairs[:, :, 0], pairs[:, :, 1]
        first = upper.copy()
        upper += lower
        np.subtract(first, lower, out=lower)


def _popcount(width: int) -> np.ndarray:
    states = np.arange(1 << width, dtype=np.int64)
    return np.sum((states[:, None] >> np.arange(width)) & 1, axis=1)


def _series_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Truncated product of power series; coefficients on axis 0 (a: ``(n+1, ...)``, b broadcastable)."""
    order = a.shape[0] - 1
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape), dtype=np.float64)
    term = np.empty(out.shape[1:], dtype=np.float64)
    for k in range(order + 1):
        for i in range(k + 1):
            np.multiply(a[i], b[k - i], out=term)
            out[k] += term
    return out


def _trace_series(
    num_rows: int, width: int, K: float, H: float, dK: float, dH: float, order: int, shift: float = 0.0
):
    """``Tr (D V)^M`` as a power series in ``eps`` along ``(K, H) + eps (dK, dH)``.

    Returns ``(coefficients, log_scale)``: ``exp(log_scale) sum_k coefficients[k] eps^k =
    sum_s w(s) exp(eps (X(s) - shift))``, ``X = dK B + dH M``, so ``k! coefficients[k] /
    coefficients[0] = <(X - shift)^k>``. A shift near ``<X>`` avoids the cancellation of
    ``<X^2> - <X>^2`` (it cost ~1e-10 of the specific heat at beta = 1.5 without it).
    """
    factorial = np.array([math.factorial(k) for k in range(order + 1)], dtype=np.float64)
    powers = np.arange(order + 1)

    bonds, magnet = _row_sums(width)
    exponent = K * bonds + H * magnet
    exponent_max = float(np.max(exponent))
    direction = dK * bonds + dH * magnet - shift / num_rows
    # D(eps) = exp(exponent + eps * direction), scaled by exp(-exponent_max) so no entry overflows.
    diag_field = np.exp(exponent - exponent_max)[None, :] * direction[None, :] ** powers[:, None] / factorial[:, None]

    # 2 cosh(K + dK eps) and 2 sinh(K + dK eps), both divided by 2 cosh K (|tanh K| <= 1, no overflow).
    tanh_k = math.tanh(K)
    taylor = dK**powers / factorial
    cosh_series = taylor * np.where(powers % 2 == 0, 1.0, tanh_k)
    sinh_series = taylor * np.where(powers % 2 == 0, tanh_k, 1.0)
    eigen_by_count = np.empty((width + 1, order + 1))
    for flipped in range(width + 1):
        value = np.zeros(order + 1)
        value[0] = 1.0
        for _ in range(width - flipped):
            value = _series_product(value, cosh_series)
        for _ in range(flipped):
            value = _series_product(value, sinh_series)
        eigen_by_count[flipped] = value
    diag_vertical = eigen_by_count[_popcount(width)].T  # (order+1, 2^L)
    log_cosh = abs(K) + math.log1p(math.exp(-2.0 * abs(K)))  # ln(2 cosh K), overflow-free

    representatives, counts = _symmetry_classes(width)
    columns = np.arange(representatives.size)
    state = np.zeros((order + 1, 1 << width, representatives.size))
    state[0, representatives, columns] = 1.0
    diag_vertical, diag_field = diag_vertical[:, :, None], diag_field[:, :, None]
    # Each application of D V = D H Lambda H / 2^L contributes these constants to ln Z.
    log_scale = num_rows * (exponent_max + width * (log_cosh - math.log(2.0)))
    for _ in range(num_rows):
        _walsh_hadamard(state)
        state = _series_product(diag_vertical, state)
        _walsh_hadamard(state)
        state = _series_product(diag_field, state)
        # Renormalise every row so that neither overflow nor underflow can occur for any beta.
        scale = float(np.max(np.abs(state[0])))
        state /= scale
        log_scale += math.log(scale)
    coefficients = state[:, representatives, columns] @ counts.astype(np.float64)
    return coefficients, log_scale


def ising_2d(L: int | tuple[int, int], beta: float, *, J: float = 1.0, h: float = 0.0) -> TransferMatrixResult:
    """Exact ``ln Z``, free energy, energy and magnetization moments of the periodic 2D Ising model.

    ``E(s) = -J sum_<ij> s_i s_j - h sum_i s_i`` on a periodic lattice, the convention of
    ``jaxphys.models.Ising(shape, J, h)`` (a side of 2 counts its bond twice). ``Z = Tr T^M`` by
    the row-to-row transfer matrix (see the module docstring), exact to rounding in float64:
    about 1e-12 relative for ``ln Z`` and the moments.

    Every field holds for any ``h``: they are raw moments ``<e^k>``, ``<m^k>`` of the Boltzmann
    law at the given ``(beta, J, h)``. Only at ``h = 0`` does the up-down symmetry give
    ``<m> = 0`` (and ``<m^2>`` then measures the order parameter, ``chi = beta N <m^2>``); for
    ``h != 0`` the susceptibility is ``beta N (<m^2> - <m>^2)``. The energy includes the field
    term, so ``specific_heat`` is ``-beta^2 d<e>/dbeta`` at fixed ``(J, h)``.

    Args:
        L: side of an ``L x L`` lattice, or ``(rows, cols)`` for a rectangle; every side >= 2
            and the shorter side <= 12 (the longer one is free; cost is linear in it).
        beta: inverse temperature >= 0 (a concrete number; this is host numpy, not traceable).
        J: nearest-neighbour coupling (J < 0: antiferromagnet).
        h: uniform field.

    Returns:
        :class:`TransferMatrixResult` of Python floats (float64).

    Raises:
        ValueError: a side < 2, a shorter side > 12 (use ``kaufman_*`` at ``h = 0`` or Monte
            Carlo), beta < 0, NaN or infinite beta/J/h.
        TypeError: non-integer sides, a traced (jit/vmap) beta/J/h.
    """
    num_rows, width = _lattice_sides(L)
    beta = _concrete_float(beta, "beta")
    if beta < 0:
        raise ValueError(f"beta must be >= 0 (beta = 1/T), got {beta!r}")
    J = _concrete_float(J, "J")
    h = _concrete_float(h, "h")
    num_spins = num_rows * width
    K, H = beta * J, beta * h

    magnet_series, log_scale = _trace_series(num_rows, width, K, H, 0.0, 1.0, order=4)
    magnet_moments = [math.factorial(k) * magnet_series[k] / magnet_series[0] for k in range(5)]
    log_z = math.log(magnet_series[0]) + log_scale
    # <E> first, then the central moment <(E - <E>)^2> directly (no cancellation at low T).
    first, _ = _trace_series(num_rows, width, K, H, -J, -h, order=1)
    mean_energy = first[1] / first[0]
    central, _ = _trace_series(num_rows, width, K, H, -J, -h, order=2, shift=mean_energy)
    variance = 2.0 * central[2] / central[0] - (central[1] / central[0]) ** 2
    e1 = mean_energy / num_spins
    free_energy = -log_z / (beta * num_spins) if beta > 0 else -math.inf
    values = TransferMatrixResult(
        log_partition_function=log_z,
        free_energy=free_energy,
        energy=e1,
        energy2=variance / num_spins**2 + e1**2,
        specific_heat=beta**2 * variance / num_spins,
        magnetization=magnet_moments[1] / num_spins,
        m2=magnet_moments[2] / num_spins**2,
        m4=magnet_moments[4] / num_spins**4,
    )
    return TransferMatrixResult(*(float(v) for v in values))
