"""Dynamical mean-field theory (DMFT) of random rate networks, and their direct simulation.

The network ``dx_i/dt = -x_i + g sum_j J_ij phi(x_j)``, ``J_ij ~ N(0, 1/N)`` with
``corr(J_ij, J_ji) = eta`` and ``J_ii = 0``, reduces for ``N -> infinity`` to one unit driven by
a self-consistent Gaussian field (Sompolinsky, Crisanti & Sommers, PRL 61, 259 (1988); for
``eta != 0``: Crisanti & Sompolinsky, PRA 36, 4922 (1987); Zou & Huang 2023, arXiv:2305.08459):

    dh/dt = -h + eta g^2 integral_{-inf}^t R(t, s) phi(h(s)) ds + gamma(t),
    <gamma(t) gamma(s)> = g^2 C_phi(t, s),   C_phi(t, s) = <phi(h(t)) phi(h(s))>,
    R(t, s) = <d phi(h(t)) / d b(s)>           (b a field added to dh/dt).

``eta = 0`` (SCS). The stationary autocorrelation ``Delta(tau) = <h(t) h(t + tau)>`` obeys
Newton's equation of a classical particle,

    Delta'' = Delta - g^2 C_phi(Delta, Delta0) = -dV/dDelta,
    V(Delta) = -Delta^2 / 2 + g^2 E[Phi(x1) Phi(x2)],  Phi' = phi,

with ``(x1, x2)`` centred Gaussian, ``Var = Delta0``, ``Cov = Delta``. The chaotic solution
starts at rest at ``Delta0`` and creeps to ``Delta(inf) = 0``, so energy conservation
``V(Delta0) = V(0)`` fixes the variance:

    Delta0^2 / 2 = g^2 (E Phi(sqrt(Delta0) z)^2 - (E Phi(sqrt(Delta0) z))^2)

(SCS; ``Phi = log cosh`` for ``tanh``). Its positive root exists for ``g phi'(0) > 1``; below,
the fixed point ``x = 0`` is stable and ``Delta0 = 0``. For a callable ``phi`` without a known
antiderivative the variance of ``Phi`` is written ``integral_0^Delta0 C_phi(u, Delta0) du``
(Price's theorem) and integrated by Gauss-Legendre.

``eta != 0``. The memory term makes the stationary problem non-Markovian; :func:`sampled_dmft`
solves it in the time domain (Eissfeller & Opper, PRL 68, 2094 (1992); Roy et al., J. Phys. A 52,
484001 (2019)): sample Gaussian paths with the current ``C_phi``, integrate the single-unit
equation with the current memory kernel (Euler, the same discretisation as
:func:`simulate`), measure ``C_phi`` and ``R`` (the latter by forward-mode differentiation
of the paths with respect to impulses of ``b``), and iterate with damping. The zero fixed point
becomes unstable at ``g (1 + eta) phi'(0) = 1`` (the elliptic law: the spectrum of ``J`` fills
an ellipse with real semi-axis ``1 + eta``).

Activations: ``"tanh"``, ``"erf"`` (``phi(x) = erf(x)``) or an odd, bounded callable (the
stationary theory assumes ``phi`` odd, so ``<h> = 0`` and ``Delta(inf) = 0``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Key

from .. import status as status_lib
from .._validate import as_count
from . import fixed_point, quadrature
from .signal_propagation import Activation, activation_derivative, activation_function, concrete_value

__all__ = [
    "critical_gain",
    "rate_network_variance",
    "autocorrelation",
    "sampled_dmft",
    "DMFTResult",
    "random_couplings",
    "simulate",
    "SimulationResult",
]


def _log_cosh(x: Array) -> Array:
    """``log cosh x``; ``log1p(2 sinh(x/2)^2)`` keeps relative accuracy at small ``x``."""
    small = jnp.abs(x) < 1.0
    xs = jnp.where(small, x, 0.0)
    xl = jnp.where(small, 1.0, jnp.abs(x))
    return jnp.where(small, jnp.log1p(2.0 * jnp.sinh(0.5 * xs) ** 2), xl + jnp.log1p(jnp.exp(-2.0 * xl)) - math.log(2.0))


def _erf_integral(x: Array) -> Array:
    """``integral_0^x erf = x erf x + (exp(-x^2) - 1) / sqrt(pi)``."""
    return x * jax.scipy.special.erf(x) + jnp.expm1(-(x**2)) / math.sqrt(math.pi)


_ANTIDERIVATIVES: dict[str, Callable[[Array], Array]] = {"tanh": _log_cosh, "erf": _erf_integral}

_LINEAR_TAIL = 1e-3  # below Delta = 1e-3 Delta0 the autocorrelation follows its linearised decay
_GAUSS_LEGENDRE_NODES = 24  # C_phi(u, Delta0) is smooth in u: 24 nodes reach ~1e-12 on [0, Delta0]


def _check_activation(activation: Activation) -> Callable[[Array], Array]:
    if isinstance(activation, str) and activation in ("relu", "linear"):
        raise ValueError(
            f"activation {activation!r} is unbounded: the rate network diverges above the instability "
            "instead of becoming chaotic; use 'tanh', 'erf' or an odd bounded callable"
        )
    return activation_function(activation)


def _check_gain(g: ArrayLike) -> Array:
    if jnp.ndim(g) != 0:
        raise ValueError(f"g must be a scalar, got shape {jnp.shape(g)}; for a grid use jax.vmap(rate_network_variance)(gs)")
    concrete = concrete_value(g)
    if concrete is not None and (np.any(np.isnan(concrete)) or np.any(concrete < 0)):
        raise ValueError(f"g is a gain: it must be >= 0 and not NaN, got {concrete}")
    return jnp.asarray(g, jnp.result_type(g, float))


def _check_eta(eta: ArrayLike) -> Array:
    concrete = concrete_value(eta)
    if concrete is not None and not np.all(np.abs(concrete) <= 1.0):
        raise ValueError(f"eta = corr(J_ij, J_ji) must lie in [-1, 1], got {concrete}")
    return jnp.asarray(eta, jnp.result_type(eta, float))


def critical_gain(eta: ArrayLike = 0.0, activation: Activation = "tanh") -> Float[Array, ""]:
    """``g_c = 1 / ((1 + eta) phi'(0))``: where the fixed point ``x = 0`` loses stability.

    The Jacobian at ``x = 0`` is ``-1 + g phi'(0) J``; the eigenvalues of ``J`` fill the ellipse
    with real semi-axis ``1 + eta`` (Sommers et al., PRL 60, 1895 (1988)). For ``eta = 0`` and
    ``tanh`` this is the SCS onset of chaos ``g = 1``. ``inf`` for ``eta = -1``.

    Raises:
        ValueError: ``|eta| > 1`` or NaN (when concrete), unknown or unbounded activation.
    """
    _check_activation(activation)
    eta = _check_eta(eta)
    slope = activation_derivative(activation)(jnp.zeros((), eta.dtype))
    return 1.0 / ((1.0 + eta) * slope)


def _phi_variance(delta0: Array, activation: Activation, num_nodes: int) -> Array:
    """``Var Phi(sqrt(Delta0) z) = integral_0^Delta0 C_phi(u, Delta0) du``."""
    if not isinstance(activation, str):
        return _kernel_integral(jnp.zeros_like(delta0), delta0, delta0, activation, num_nodes)
    std = jnp.sqrt(jnp.maximum(delta0, 0.0))
    big_phi = _ANTIDERIVATIVES[activation]
    mean = quadrature.gaussian_expectation(big_phi, num_nodes=num_nodes, std=std)
    return quadrature.gaussian_expectation(lambda x: (big_phi(x) - mean) ** 2, num_nodes=num_nodes, std=std)


def _kernel(delta: Array, delta0: Array, activation: Activation, num_nodes: int) -> Array:
    """``C_phi(Delta, Delta0) = E phi(x1) phi(x2)``, ``Var x = Delta0``, ``Cov = Delta``."""
    phi = activation_function(activation)
    rho = jnp.clip(delta / jnp.where(delta0 > 0, delta0, 1.0), -1.0, 1.0)
    return quadrature.gaussian_expectation_2d(
        lambda x1, x2: phi(x1) * phi(x2), rho, num_nodes=num_nodes, var1=delta0, var2=delta0
    )


def _kernel_integral(lower: Array, upper: Array, delta0: Array, activation: Activation, num_nodes: int) -> Array:
    """``integral_lower^upper C_phi(u, Delta0) du`` by Gauss-Legendre."""
    nodes, weights = np.polynomial.legendre.leggauss(_GAUSS_LEGENDRE_NODES)
    nodes = jnp.asarray(nodes, delta0.dtype)
    weights = jnp.asarray(weights, delta0.dtype)
    half = 0.5 * (upper - lower)
    points = lower + half * (nodes + 1.0)
    values = jax.vmap(lambda u: _kernel(u, delta0, activation, num_nodes))(points)
    return half * jnp.sum(weights * values)


def _variance_residual(y: Array, g: Array, activation: Activation, num_nodes: int) -> Array:
    """``(V(Delta0) - V(0)) / Delta0^2 = -1/2 + g^2 Var Phi / Delta0^2`` at ``Delta0 = g^2 y``."""
    delta0 = g**2 * y
    variance = _phi_variance(delta0, activation, num_nodes)
    return -0.5 + g**2 * variance / delta0**2


def _scs_variance(g: Array, activation: Activation, num_nodes: int, bracket: tuple[float, float]) -> status_lib.Solution:
    g_c = critical_gain(0.0, activation).astype(g.dtype)
    chaotic = g > g_c
    g_safe = jnp.where(chaotic, g, 2.0 * g_c)  # keeps the unused root finite, so derivatives stay finite

    def residual(y, gain):
        return _variance_residual(y, gain, activation, num_nodes)

    root = fixed_point.bracket_root(residual, bracket[0], bracket[1], g_safe)
    value = jnp.where(chaotic, g_safe**2 * root.value, 0.0)
    st = jnp.where(chaotic, root.status, 0).astype(jnp.int32)
    return status_lib.Solution(value, st, root.num_steps)


def rate_network_variance(
    g: ArrayLike,
    eta: ArrayLike = 0.0,
    activation: Activation = "tanh",
    *,
    num_nodes: int = 96,
    bracket: tuple[float, float] = (1e-6, 4.0),
    key: Key[Array, ""] | None = None,
    **sampled_options,
) -> status_lib.Solution:
    """Stationary variance ``Delta0 = <x^2>`` of the random rate network in the ``N -> inf`` limit.

    ``eta = 0`` (a concrete zero): the SCS energy condition
    ``Delta0^2 / 2 = g^2 Var Phi(sqrt(Delta0) z)`` (module docstring), solved for
    ``y = Delta0 / g^2`` in ``bracket`` by :func:`jaxphys.theory.fixed_point.bracket_root`;
    ``Delta0 = 0`` for ``g <= 1 / phi'(0)``. Differentiable in ``g`` (implicit function theorem),
    jit- and vmap-able over ``g``. For ``tanh`` this gives ``Delta0 = 0.2426, 0.7477, 1.9248,
    5.4463`` at ``g = 1.2, 1.5, 2, 3`` (Zou & Huang 2023, arXiv:2305.08459). The upper end
    ``y = 4`` brackets the root whenever ``|phi| <= 1`` (then ``Var Phi <= Delta0``).

    ``eta != 0`` (or traced): the sampled time-domain DMFT :func:`sampled_dmft` with ``key``
    (default ``jax.random.key(0)``) and ``sampled_options``; a Monte Carlo estimate with
    statistical error, no useful derivative.

    Args:
        g: gain, float scalar ``>= 0``.
        eta: coupling symmetry ``corr(J_ij, J_ji)``, in ``[-1, 1]``.
        activation: ``"tanh"``, ``"erf"`` or an odd bounded callable.
        num_nodes: Gauss-Hermite nodes (96 resolves ``log cosh`` to ~1e-8 at ``Delta0 ~ 5``).

    Returns:
        ``Solution(value=Delta0, status, num_steps)``; ``INVALID_PARAMETER`` if ``bracket`` holds
        no root (``g`` within ~1e-6 of the onset, or a callable with ``|phi| > 1``).

    Raises:
        ValueError: ``g < 0`` or NaN, ``|eta| > 1`` (when concrete), unknown or unbounded
            activation, bad bracket.
    """
    g = _check_gain(g)
    eta_checked = _check_eta(eta)
    eta_concrete = concrete_value(eta)
    _check_activation(activation)
    if not 0.0 < bracket[0] < bracket[1]:
        raise ValueError(f"bracket must be (lower, upper) in y = Delta0 / g^2 with 0 < lower < upper, got {bracket}")
    if eta_concrete is not None and np.all(eta_concrete == 0):
        return _scs_variance(g, activation, as_count(num_nodes, "num_nodes"), bracket)
    solution = sampled_dmft(jax.random.key(0) if key is None else key, g, eta_checked, activation, **sampled_options)
    return status_lib.Solution(solution.value.variance, solution.status, solution.num_steps)


def autocorrelation(
    g: ArrayLike,
    activation: Activation = "tanh",
    *,
    num_steps: int = 2000,
    dt: float = 0.01,
    num_nodes: int = 64,
) -> Float[Array, " num_steps+1"]:
    """SCS autocorrelation ``Delta(tau)`` at ``tau = 0, dt, ..., num_steps dt`` (``eta = 0``).

    Integrates ``Delta'' = Delta - g^2 C_phi(Delta, Delta0)`` from ``Delta(0) = Delta0``,
    ``Delta'(0) = 0`` by RK4. The trajectory runs along the separatrix into the unstable top
    of ``V`` at ``Delta = 0``, so after each step the velocity is projected back on the energy
    shell, ``Delta' = -sqrt(2 (V(Delta0) - V(Delta)))``, which makes the approach to 0 stable.
    ``Delta0`` is solved with the same ``num_nodes``, so that ``V(Delta0) - V(0)`` vanishes to
    rounding (at ``Delta = 0`` the 2-D rule factorises into the 1-D one). At late times
    ``Delta ~ exp(-tau sqrt(1 - g^2 <phi'>^2))`` (``<phi'>`` at variance ``Delta0``), which is
    followed exactly once ``Delta < 1e-3 Delta0``, where the energy gap is below the rounding of
    ``Delta0``. Zero for ``g <= 1 / phi'(0)``. Args as :func:`rate_network_variance`; ``num_steps`` and
    ``dt`` Python numbers.

    Raises:
        ValueError: like :func:`rate_network_variance`, or ``dt <= 0``.
    """
    g = _check_gain(g)
    _check_activation(activation)
    num_steps = as_count(num_steps, "num_steps")
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    delta0 = rate_network_variance(g, 0.0, activation, num_nodes=num_nodes).value
    safe0 = jnp.where(delta0 > 0, delta0, 1.0)
    big_phi = _ANTIDERIVATIVES.get(activation) if isinstance(activation, str) else None

    def force(delta):
        return delta - g**2 * _kernel(delta, safe0, activation, num_nodes)

    def energy_gap(delta):
        """``V(Delta0) - V(Delta)``."""
        if big_phi is not None:
            rho = jnp.clip(delta / safe0, -1.0, 1.0)
            phi_phi = quadrature.gaussian_expectation_2d(
                lambda x1, x2: big_phi(x1) * big_phi(x2), rho, num_nodes=num_nodes, var1=safe0, var2=safe0
            )
            top = quadrature.gaussian_expectation(lambda x: big_phi(x) ** 2, num_nodes=num_nodes, std=jnp.sqrt(safe0))
            integral = top - phi_phi
        else:
            integral = _kernel_integral(delta, safe0, safe0, activation, num_nodes)
        return -(safe0**2 - delta**2) / 2.0 + g**2 * integral

    mean_slope = quadrature.gaussian_expectation(activation_derivative(activation), num_nodes=num_nodes, std=jnp.sqrt(safe0))
    rate = jnp.sqrt(jnp.maximum(1.0 - g**2 * mean_slope**2, 0.0))

    def step(carry, _):
        delta, velocity = carry
        k1 = (velocity, force(delta))
        k2 = (velocity + 0.5 * dt * k1[1], force(delta + 0.5 * dt * k1[0]))
        k3 = (velocity + 0.5 * dt * k2[1], force(delta + 0.5 * dt * k2[0]))
        k4 = (velocity + dt * k3[1], force(delta + dt * k3[0]))
        delta = delta + dt / 6.0 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        # close to the top the gap ~ rate^2 Delta^2 / 2 drowns in the rounding of Delta0: follow
        # the linearised separatrix Delta' = -rate Delta there (relative error O(Delta / Delta0))
        shell = -jnp.sqrt(2.0 * jnp.maximum(energy_gap(delta), 0.0))
        velocity = jnp.where(delta > _LINEAR_TAIL * safe0, shell, -rate * delta)
        return (delta, velocity), delta

    _, path = jax.lax.scan(step, (safe0, jnp.zeros_like(safe0)), None, length=num_steps)
    path = jnp.concatenate([safe0[None], path])
    return jnp.where(delta0 > 0, path, 0.0)


# --------------------------------------------------------------------------- sampled DMFT


class DMFTResult(NamedTuple):
    """Stationary DMFT kernels at lags ``tau = k dt``, ``k = 0..memory`` (float arrays).

    ``variance``: ``Delta0 = <h^2>`` (scalar); ``delta``: ``<h(t) h(t + tau)>``;
    ``c_phi``: ``<phi(h(t)) phi(h(t + tau))>``; ``response``: ``R(tau)`` (``R(0) = 0``);
    ``history``: ``<h^2>`` of every iteration (shape ``(num_iterations,)``), to judge convergence.
    """

    variance: Float[Array, ""]
    delta: Float[Array, " memory+1"]
    c_phi: Float[Array, " memory+1"]
    response: Float[Array, " memory+1"]
    history: Float[Array, " num_iterations"]


def _stationary_noise(key: Key[Array, ""], covariance: Array, num_paths: int, length: int) -> Array:
    """Paths of a stationary Gaussian process with ``Cov(t, t + k) = covariance[k]`` (0 beyond).

    Circulant embedding (Dietrich & Newsam, SIAM J. Sci. Comput. 18, 1088 (1997)): on a circle of
    ``2 length`` points the covariance is diagonalised by the FFT; negative eigenvalues (from a
    truncated or noisy kernel) are clipped to 0.
    """
    period = 2 * length
    lags = covariance.shape[0]
    circle = jnp.zeros(period, covariance.dtype).at[:lags].set(covariance).at[period - lags + 1 :].set(covariance[1:][::-1])
    eigenvalues = jnp.maximum(jnp.fft.fft(circle).real, 0.0)
    k1, k2 = jax.random.split(key)
    z = jax.random.normal(k1, (num_paths, period), covariance.dtype) + 1j * jax.random.normal(
        k2, (num_paths, period), covariance.dtype
    )
    return jnp.fft.fft(jnp.sqrt(eigenvalues / period) * z, axis=-1).real[:, :length]


def _lagged_mean(a: Array, b: Array, num_lags: int) -> Array:
    """``mean_{paths, t} a[:, t] b[:, t + k]`` for ``k = 0..num_lags`` (FFT, zero padding)."""
    length = a.shape[1]
    size = 2 * length
    fa = jnp.fft.rfft(a, size, axis=-1)
    fb = jnp.fft.rfft(b, size, axis=-1)
    corr = jnp.fft.irfft(jnp.conj(fa) * fb, size, axis=-1)[:, : num_lags + 1]
    counts = length - jnp.arange(num_lags + 1)
    return jnp.mean(corr, axis=0) / counts


def sampled_dmft(
    key: Key[Array, ""],
    g: ArrayLike,
    eta: ArrayLike = 0.0,
    activation: Activation = "tanh",
    *,
    dt: float = 0.1,
    num_steps: int = 1200,
    burn_in: int = 200,
    memory: int = 200,
    num_paths: int = 256,
    num_iterations: int = 30,
    num_average: int | None = None,
    damping: float = 0.5,
    tol: float = 0.05,
) -> status_lib.Solution:
    """Stationary DMFT of the rate network with coupling symmetry ``eta``, by sampled paths.

    Discretised as the Euler scheme of :func:`simulate` (step ``dt``), the single-unit process is

        h_{k+1} = h_k + dt (-h_k + eta g^2 dt sum_{m=1}^{memory} R_m phi(h_{k-m}) + gamma_k),
        <gamma_k gamma_l> = g^2 C_phi(|k - l|),   R_m = <d phi(h_{k+m}) / d b_k>,

    which is exact for the Euler-discretised network as ``N -> inf`` (module docstring). Each
    iteration draws ``num_paths`` stationary noise paths of ``num_steps`` steps
    (:func:`_stationary_noise`), integrates them (``lax.scan``) from ``h_0 ~ N(0, C_phi(0) g^2)``,
    discards ``burn_in`` steps, measures ``C_phi(tau)`` by time and path averages, and ``R(tau)``
    by one forward-mode derivative of each path along impulses of ``b`` spaced ``memory`` steps
    apart (linear, so one ``jax.jvp`` measures them all; the tail ``R(tau > memory dt)`` is
    neglected). Kernels are mixed as ``new = damping old + (1 - damping) measured``; the
    result averages the last ``num_average`` iterations (default half). A Monte Carlo solver:
    its statistical error falls as ``1 / sqrt(num_paths num_steps dt num_average)``.

    Args:
        key: PRNG key.
        g: gain (float scalar >= 0); eta: ``corr(J_ij, J_ji)`` in ``[-1, 1]``; both may be
            traced (vmap over a grid works; shapes depend only on the static options).
        activation: ``"tanh"``, ``"erf"`` or an odd bounded callable.
        dt, num_steps, burn_in, memory, num_paths, num_iterations, num_average, damping:
            discretisation and sampling sizes (Python numbers); ``memory dt`` must exceed the
            correlation time (about 20 time units suffice for ``g <= 3``).
        tol: ``NOT_CONVERGED`` is set if the variance averaged over the last quarter of the
            iterations differs from that over the quarter before by more than ``tol`` (relative).

    Returns:
        ``Solution(value=DMFTResult, status, num_steps=num_iterations)``.

    Raises:
        ValueError: bad ``g``/``eta`` (when concrete), activation, or sizes
            (``burn_in + memory < num_steps`` is required).
    """
    g = _check_gain(g)
    eta = _check_eta(eta)
    phi = _check_activation(activation)
    num_steps = as_count(num_steps, "num_steps")
    burn_in = as_count(burn_in, "burn_in", minimum=0)
    memory = as_count(memory, "memory")
    num_paths = as_count(num_paths, "num_paths")
    num_iterations = as_count(num_iterations, "num_iterations", minimum=4)
    num_average = num_iterations // 2 if num_average is None else as_count(num_average, "num_average")
    if num_average > num_iterations:
        raise ValueError(f"num_average ({num_average}) must not exceed num_iterations ({num_iterations})")
    if burn_in + 2 * memory > num_steps:
        raise ValueError(f"need burn_in + 2 memory <= num_steps to measure the kernels, got {burn_in} + 2*{memory} > {num_steps}")
    if not (dt > 0 and 0.0 <= damping < 1.0):
        raise ValueError(f"need dt > 0 and 0 <= damping < 1, got dt={dt}, damping={damping}")
    dtype = jnp.result_type(g, eta)
    g = g.astype(dtype)
    eta = eta.astype(dtype)
    impulses = np.zeros(num_steps)
    impulses[burn_in : num_steps - memory : memory] = 1.0
    impulse_times = np.flatnonzero(impulses)
    impulses = jnp.asarray(impulses, dtype)

    def paths(noise, h0, response):
        """Euler paths; returns ``(h, phi(h))`` of shape ``(num_paths, num_steps)``."""
        weights = eta * g**2 * dt * response[1:]  # lag m = 1..memory

        def step(carry, gamma_k):
            h, history = carry  # history[:, m - 1] = phi(h_{k - m})
            h_next = h + dt * (-h + history @ weights + gamma_k)
            history = jnp.concatenate([phi(h)[:, None], history[:, :-1]], axis=1)
            return (h_next, history), h

        history0 = jnp.zeros((num_paths, memory), dtype)
        _, h = jax.lax.scan(step, (h0, history0), noise.T)
        h = h.T
        return h, phi(h)

    def iteration(kernels, key):
        c_phi, response = kernels
        k_noise, k_init = jax.random.split(key)
        noise = _stationary_noise(k_noise, g**2 * c_phi, num_paths, num_steps)
        h0 = jnp.sqrt(g**2 * c_phi[0]) * jax.random.normal(k_init, (num_paths,), dtype)
        tangent = jnp.broadcast_to(impulses, (num_paths, num_steps))
        (h, phi_h), (_, dphi_h) = jax.jvp(lambda n: paths(n, h0, response), (noise,), (tangent,))
        h, phi_h = h[:, burn_in:], phi_h[:, burn_in:]
        # noise gamma_k enters h_{k+1} with weight dt, so R_m = d phi(h_{k+m}) / d gamma_k / dt
        windows = jnp.stack([dphi_h[:, t : t + memory + 1] for t in impulse_times], axis=1)
        measured_response = jnp.mean(windows, axis=(0, 1)).at[0].set(0.0) / dt
        measured_c_phi = _lagged_mean(phi_h, phi_h, memory)
        measured_delta = _lagged_mean(h, h, memory)
        new = (
            damping * c_phi + (1.0 - damping) * measured_c_phi,
            damping * response + (1.0 - damping) * measured_response,
        )
        return new, (measured_delta, measured_c_phi, measured_response)

    lags = jnp.arange(memory + 1, dtype=dtype) * dt
    # start from a slowly decaying kernel of the right order of magnitude and no response: the
    # iteration then approaches the solution from above, faster than from a short kernel
    kernels0 = (0.5 * jnp.exp(-lags / 10.0), jnp.zeros(memory + 1, dtype))
    _, (deltas, c_phis, responses) = jax.lax.scan(iteration, kernels0, jax.random.split(key, num_iterations))
    history = deltas[:, 0]
    result = DMFTResult(
        variance=jnp.mean(history[-num_average:]),
        delta=jnp.mean(deltas[-num_average:], axis=0),
        c_phi=jnp.mean(c_phis[-num_average:], axis=0),
        response=jnp.mean(responses[-num_average:], axis=0),
        history=history,
    )
    quarter = max(num_iterations // 4, 1)
    last, before = jnp.mean(history[-quarter:]), jnp.mean(history[-2 * quarter : -quarter])
    finite = jnp.all(jnp.isfinite(deltas)) & jnp.all(jnp.isfinite(responses))
    st = status_lib.flag(status_lib.ok(), status_lib.Status.NAN, ~finite)
    st = status_lib.flag(st, status_lib.Status.NOT_CONVERGED, finite & (jnp.abs(last - before) > tol * jnp.abs(last) + 1e-12))
    return status_lib.Solution(result, st, jnp.asarray(num_iterations, jnp.int32))


# --------------------------------------------------------------------------- direct simulation


def random_couplings(key: Key[Array, ""], n: int, eta: ArrayLike = 0.0, dtype=None) -> Float[Array, "n n"]:
    """``J = sqrt((1 + eta)/2) S + sqrt((1 - eta)/2) A``: ``Var J_ij = 1/n``, ``corr(J_ij, J_ji) = eta``, ``J_ii = 0``.

    ``S`` (``A``) is a symmetric (antisymmetric) Gaussian matrix with off-diagonal variance ``1/n``.

    Raises:
        ValueError: ``n < 2`` or ``|eta| > 1`` (when concrete).
    """
    n = as_count(n, "n", minimum=2)
    eta = _check_eta(eta)
    dtype = jnp.result_type(eta) if dtype is None else dtype
    k1, k2 = jax.random.split(key)
    g1 = jax.random.normal(k1, (n, n), dtype) / math.sqrt(2.0 * n)
    g2 = jax.random.normal(k2, (n, n), dtype) / math.sqrt(2.0 * n)
    symmetric = g1 + g1.T
    antisymmetric = g2 - g2.T
    couplings = jnp.sqrt((1.0 + eta) / 2.0) * symmetric + jnp.sqrt((1.0 - eta) / 2.0) * antisymmetric
    return couplings * (1.0 - jnp.eye(n, dtype=dtype))


class SimulationResult(NamedTuple):
    """``mean_square``: population mean of ``x_i^2`` at every step, shape ``(num_steps,)``;
    ``trajectory``: ``x`` of the first ``num_record`` units, shape ``(num_steps, num_record)``;
    ``state``: final ``x``, shape ``(n,)``."""

    mean_square: Float[Array, " num_steps"]
    trajectory: Float[Array, "num_steps num_record"]
    state: Float[Array, " n"]


def simulate(
    key: Key[Array, ""],
    g: ArrayLike,
    eta: ArrayLike = 0.0,
    activation: Activation = "tanh",
    *,
    n: int = 500,
    dt: float = 0.1,
    num_steps: int = 2000,
    method: str = "euler",
    num_record: int = 0,
) -> SimulationResult:
    """Integrate ``dx/dt = -x + g J phi(x)`` for one draw of :func:`random_couplings` (``lax.scan``).

    ``x(0) ~ N(0, 1)``. ``method="euler"`` is the discretisation of :func:`sampled_dmft`;
    ``"rk4"`` (classical Runge-Kutta) approximates the continuous-time SCS theory. Time
    averages over the stationary part of ``mean_square`` estimate ``Delta0`` with an
    ``O(1/N)`` finite-size bias.

    Raises:
        ValueError: bad ``g``/``eta`` (when concrete), activation, method, or sizes.
    """
    g = _check_gain(g)
    phi = _check_activation(activation)
    n = as_count(n, "n", minimum=2)
    num_steps = as_count(num_steps, "num_steps")
    num_record = as_count(num_record, "num_record", minimum=0)
    if num_record > n:
        raise ValueError(f"num_record ({num_record}) must not exceed n ({n})")
    if method not in ("euler", "rk4"):
        raise ValueError(f"method must be 'euler' or 'rk4', got {method!r}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    dtype = jnp.result_type(g, eta)
    k_couplings, k_init = jax.random.split(key)
    couplings = g.astype(dtype) * random_couplings(k_couplings, n, eta, dtype)
    x0 = jax.random.normal(k_init, (n,), dtype)

    def velocity(x):
        return -x + couplings @ phi(x)

    def step(x, _):
        if method == "euler":
            x_next = x + dt * velocity(x)
        else:
            v1 = velocity(x)
            v2 = velocity(x + 0.5 * dt * v1)
            v3 = velocity(x + 0.5 * dt * v2)
            v4 = velocity(x + dt * v3)
            x_next = x + dt / 6.0 * (v1 + 2 * v2 + 2 * v3 + v4)
        return x_next, (jnp.mean(x**2), x[:num_record])

    state, (mean_square, trajectory) = jax.lax.scan(step, x0, None, length=num_steps)
    return SimulationResult(mean_square, trajectory, state)
