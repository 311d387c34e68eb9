"""Low-load theory of Hebbian networks that learn archetypes from blurred examples.

Agliari, Alemanno, Barra & De Marzo, "The emergence of a concept in shallow neural networks"
(arXiv:2109.00454; unsupervised rule) and Alemanno, Aquaro, Kanter, Barra & Agliari,
"Supervised Hebbian learning" (arXiv:2203.01304; supervised rule), in the low-load limit
(``K`` archetypes finite, ``N -> infinity``), for the couplings of
:mod:`jaxphys.learning.archetypes`. Each archetype ``xi`` is seen through ``M`` examples
``eta^a_i = chi^a_i xi_i`` with ``E chi = r``; in the gauge ``s_i -> xi_i s_i`` the class
average is ``v_i = (1/M) sum_a chi^a_i``, with ``E v = r`` and ``E v^2 = R = r^2 + (1 - r^2)/M``.
The dataset entropy is ``rho = (1 - r^2) / (M r^2)`` (``Var v / (E v)^2``).

Pure retrieval state of one class (the other ``K - 1`` classes give an ``O(sqrt(K/N))``
cross-talk that vanishes at low load). The energy is ``-(N / 2c) p^2`` with the overlap
``p = (1/N) sum_i v_i s_i`` and ``c = R`` for the supervised rule (``J = v v^T / (N R)``) or
``c = r^2`` for the unsupervised one (``J = sum_a eta^a eta^a^T / (N r^2 M)``, in the state
symmetric in the examples, ``q_a = p`` for all ``a``: the archetype state, not an example). A
Curie-Weiss argument in ``p`` (site-independent given ``v_i``) gives, with ``beta = 1/T``,

    p = E_v[ v tanh(beta p v / c) ],        m = E_v[ tanh(beta p v / c) ],

where ``m = (1/N) sum_i xi_i s_i`` is the Mattis overlap with the archetype, the quantity the
network never saw. ``E_v`` is over the law of ``v``: ``examples="gaussian"`` uses the central
limit form of the papers, ``v = r + sqrt((1 - r^2)/M) z = r (1 + sqrt(rho) z)``, so ``m`` depends
on ``(rho, T)`` only; ``examples="binomial"`` uses the exact law ``v = (2k - M)/M``,
``k ~ Binomial(M, (1 + r)/2)``, for an integer ``M`` (what a finite-M simulation measures).

* ``T = 0``: ``s_i = sign(v_i)``, so ``m = E sign(v) = erf(1 / sqrt(2 rho))`` (Gaussian) and
  ``p = E|v|``.
* The retrieval state vanishes continuously at ``T_c = E v^2 / c``: ``T_c = 1`` (supervised),
  ``T_c = 1 + rho`` (unsupervised). In the Gaussian form the unsupervised network at ``T`` is the
  supervised one at ``T / (1 + rho)`` (the two normalisations differ by ``R / r^2 = 1 + rho``).

Solved with :func:`jaxphys.theory.fixed_point.solve` (iteration from the ``T = 0`` value
``p = E|v|``, which descends to the largest, retrieval root); averages use
:func:`jaxphys.theory.quadrature.gaussian_expectation_focused`, its nodes crowded at ``v = 0``
where ``tanh`` is sharp at low ``T``. Everything is vmappable and differentiable in ``r``, ``M``
(Gaussian form) and ``T`` by the implicit function theorem.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..status import Solution, Status, flag, ok
from . import fixed_point
from ._params import jit_broadcast
from .quadrature import _concrete, gaussian_expectation_focused

__all__ = [
    "ArchetypeState",
    "dataset_entropy",
    "critical_temperature",
    "solve",
    "retrieval_overlap",
    "critical_sample_size",
]

_RULES = ("supervised", "unsupervised")
_EXAMPLES = ("gaussian", "binomial")
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
# Quadrature nodes of the sinh-mapped trapezoid rule: ~13 nodes per tanh width down to T ~ 1e-4.
_NUM_NODES = 256
# Bracket for log(rho) in critical_sample_size: m(rho = 1e-6) = 1 - O(1e-200) and
# m(rho = 1e6) = 8e-4 at T = 0, so every m_target in [1e-3, 1 - 1e-12] is inside.
_LOG_RHO_RANGE = (math.log(1e-6), math.log(1e6))


class ArchetypeState(NamedTuple):
    """Low-load retrieval state (float arrays of the broadcast shape).

    ``m``: Mattis overlap with the archetype, ``(1/N) sum_i xi_i s_i``; ``p``: overlap with the
    class average, ``(1/N) sum_i eta_bar_i s_i`` (``eta_bar = v xi``); ``rho``: dataset entropy.
    """

    m: Float[Array, "..."]
    p: Float[Array, "..."]
    rho: Float[Array, "..."]


# --------------------------------------------------------------------------- validation


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _array(x: Any, name: str, low: float, *, strict: bool, high: float | None = None, hint: str = "") -> Array:
    """``x`` as a float array; concrete values outside ``[low, high]`` (or ``(low, high]``) raise."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number or array, got the bool {x!r}")
    value = _concrete(x)
    if value is not None:
        if not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
            raise TypeError(f"{name} must be a real number or array, got dtype {value.dtype}")
        above = value > low if strict else value >= low
        below = True if high is None else value <= high
        if not (np.all(above & below) and np.all(np.isfinite(value))):
            bound = f"{'(' if strict else '['}{low}, {'inf)' if high is None else f'{high}]'}"
            raise ValueError(f"{name} must be finite and in {bound}{hint}, got {value}")
    return jnp.asarray(x, jnp.result_type(x, float))


def _quality(r: Any) -> Array:
    return _array(r, "r", 0.0, strict=False, high=1.0, hint=" (the dataset quality E[chi])")


def _temperature(T: Any) -> Array:
    return _array(T, "T", 0.0, strict=False, hint=" (T = 0 is the deterministic network)")


def _num_examples(M: Any, examples: str) -> tuple[Array, int | None]:
    """``(M as a float array, M as a Python int for the binomial law else None)``."""
    if examples == "binomial":
        if isinstance(M, (bool, np.bool_)) or not isinstance(M, (int, np.integer)) or M < 1:
            raise ValueError(
                f"examples='binomial' needs M as a Python int >= 1 (the law of v has M + 1 atoms), got {M!r}; "
                "use examples='gaussian' for real or traced M"
            )
        return jnp.asarray(float(M), jnp.result_type(float)), int(M)
    return _array(M, "M", 0.0, strict=True, hint=" (the number of examples per class)"), None


def _bad(r: Array, M: Array, T: Array, rule: str) -> Array:
    """Traced check of the domain; the unsupervised rule divides by r^2."""
    bad = ~((r >= 0) & (r <= 1) & (M > 0) & (T >= 0) & jnp.isfinite(M) & jnp.isfinite(T))
    if rule == "unsupervised":
        bad = bad | (r == 0)
    return bad


# --------------------------------------------------------------------------- the law of v


def _rho(r: Array, M: Array) -> Array:
    return (1.0 - r**2) / (M * r**2)


def _coupling_norm(r: Array, M: Array, rule: str) -> Array:
    """``c`` of the energy ``-(N / 2c) p^2``: ``R`` (supervised) or ``r^2`` (unsupervised)."""
    return r**2 + (1.0 - r**2) / M if rule == "supervised" else r**2


def _gaussian_average(fn, mean, sd, slope):
    """``E fn(v)``, ``v = mean + sd z``, nodes crowded at ``v = 0`` over a width ``1 / (slope sd)`` in z."""
    safe_sd = jnp.where(sd > 0, sd, 1.0)
    focus = jnp.where(sd > 0, -mean / safe_sd, -9.0)
    width = jnp.minimum(1.0, 1.0 / jnp.maximum(slope * sd, 1e-30))
    return gaussian_expectation_focused(lambda z: fn(mean + sd * z), focus=focus, width=width, num_nodes=_NUM_NODES)


def _binomial_law(r: Array, num_examples: int) -> tuple[Array, Array]:
    """Atoms ``v_k = (2k - M)/M`` and weights ``Binomial(M, (1 + r)/2)`` (float arrays (M + 1,))."""
    dtype = jnp.result_type(r, float)
    k = jnp.arange(num_examples + 1, dtype=dtype)
    m = jnp.asarray(num_examples, dtype)
    log_choose = jax.scipy.special.gammaln(m + 1) - jax.scipy.special.gammaln(k + 1) - jax.scipy.special.gammaln(m - k + 1)
    xlogy = jax.scipy.special.xlogy
    log_w = log_choose + xlogy(k, (1.0 + r) / 2.0) + xlogy(m - k, (1.0 - r) / 2.0)
    return (2.0 * k - m) / m, jnp.exp(log_w)


def _average(fn, r, M, num_examples, slope):
    """``E_v fn(v)`` under the Gaussian (``num_examples is None``) or the binomial law of ``v``."""
    if num_examples is None:
        return _gaussian_average(fn, r, jnp.sqrt((1.0 - r**2) / M), slope)
    atoms, weights = _binomial_law(r, num_examples)
    return jax.tree_util.tree_map(lambda a: jnp.tensordot(weights, a, axes=(0, 0)), fn(atoms))


# --------------------------------------------------------------------------- saddle point


def _zero_temperature(r, M, num_examples):
    """``(m, p) = (E sign v, E|v|)`` at ``T = 0``."""
    if num_examples is None:
        sd = jnp.sqrt((1.0 - r**2) / M)
        safe = jnp.where(sd > 0, sd, 1.0)
        y = r / (jnp.sqrt(2.0) * safe)
        m = jnp.where(sd > 0, jax.scipy.special.erf(y), 1.0)
        p = jnp.where(sd > 0, r * jax.scipy.special.erf(y) + safe * _SQRT_2_OVER_PI * jnp.exp(-y * y), r)
        return m, p
    atoms, weights = _binomial_law(r, num_examples)
    return weights @ jnp.sign(atoms), weights @ jnp.abs(atoms)


def _update(x, params, num_examples):
    r, M, beta_over_c = params
    p = x["p"]
    slope = beta_over_c * jnp.abs(jax.lax.stop_gradient(p))
    new = _average(lambda v: v * jnp.tanh(beta_over_c * p * v), r, M, num_examples, slope)
    return {"p": new}


@dataclasses.dataclass(frozen=True)
class _Update:
    """Hashable update closure (so fixed_point.solve's jit cache is hit across calls)."""

    num_examples: int | None

    def __call__(self, x, params):
        return _update(x, params, self.num_examples)


def _solve_one(r, M, T, rule, num_examples, zero_temperature, tol, max_steps):
    bad = _bad(r, M, T, rule)
    if zero_temperature:  # T is concretely 0: skip tracing the finite-T solver
        m, p = _zero_temperature(jnp.where(bad, 0.5, r), jnp.where(bad, 1.0, M), num_examples)
        m, p = (jnp.where(bad, jnp.nan, a) for a in (m, p))
        status = flag(ok(), Status.INVALID_PARAMETER, bad)
        return Solution(ArchetypeState(m, p, _rho(r, M)), status, jnp.zeros((), jnp.int32))
    # Evaluate every branch at safe values: where() would otherwise pass NaN gradients through.
    r_s = jnp.where(bad, 0.5, r)
    M_s = jnp.where(bad, 1.0, M)
    positive = T > 0
    T_s = jnp.where(positive & ~bad, T, 1.0)
    c = _coupling_norm(r_s, M_s, rule)
    beta_over_c = 1.0 / (T_s * c)

    m0, p0 = _zero_temperature(r_s, M_s, num_examples)
    sol = fixed_point.solve(_Update(num_examples), {"p": p0}, (r_s, M_s, beta_over_c), tol=tol, max_steps=max_steps)
    p_t = sol.value["p"]
    slope = beta_over_c * jnp.abs(jax.lax.stop_gradient(p_t))
    m_t = _average(lambda v: jnp.tanh(beta_over_c * p_t * v), r_s, M_s, num_examples, slope)

    m = jnp.where(positive, m_t, m0)
    p = jnp.where(positive, p_t, p0)
    status = jnp.where(positive, sol.status, ok())
    status = flag(status, Status.INVALID_PARAMETER, bad)
    steps = jnp.where(positive, sol.num_steps, 0).astype(jnp.int32)
    rho = _rho(r, M)
    m, p = (jnp.where(bad, jnp.nan, a) for a in (m, p))
    return Solution(ArchetypeState(m, p, rho), status, steps)


def solve(
    r: ArrayLike,
    M: ArrayLike,
    T: ArrayLike = 0.0,
    *,
    rule: str = "supervised",
    examples: str = "gaussian",
    tol: float = 1e-10,
    max_steps: int = 5000,
) -> Solution:
    """Low-load retrieval state ``p = E_v[v tanh(beta p v / c)]``, ``m = E_v tanh(beta p v / c)``.

    See the module docstring (``c = R`` supervised, ``r^2`` unsupervised). ``T = 0`` uses the
    closed forms ``m = E sign(v)``, ``p = E|v|`` (Gaussian: ``m = erf(1 / sqrt(2 rho))``). Above
    ``T_c`` (:func:`critical_temperature`) the solution is ``p = m = 0``; at ``T_c`` convergence
    is algebraic and derivatives diverge.

    Args:
        r: dataset quality ``E chi`` in ``[0, 1]`` (``(0, 1]`` for ``rule="unsupervised"``),
            float scalar or array.
        M: examples per class ``> 0``: float scalar or array for ``examples="gaussian"`` (it
            enters through ``rho`` only), a Python int ``>= 1`` for ``"binomial"``.
        T: temperature ``>= 0``, float scalar or array. ``r``, ``M``, ``T`` broadcast together.
        rule: ``"supervised"`` or ``"unsupervised"``.
        examples: law of the class average, ``"gaussian"`` (CLT, the papers' form) or
            ``"binomial"`` (exact for integer ``M``).
        tol, max_steps: passed to :func:`jaxphys.theory.fixed_point.solve`.

    Returns:
        ``Solution(value=ArchetypeState(m, p, rho), status, num_steps)`` with the broadcast
        shape; differentiable in ``r``, ``T`` and (Gaussian) ``M`` (implicit function theorem;
        the derivative in ``r`` is infinite at ``r = 1``). ``status``: ``NOT_CONVERGED``/``NAN``
        from the solver; ``INVALID_PARAMETER`` (and NaN ``m``, ``p``) for traced values out of
        their domain.

    Raises:
        ValueError: unknown ``rule`` or ``examples``; concrete ``r`` outside ``[0, 1]``,
            ``M <= 0``, ``T < 0`` or non-finite values; a non-int ``M`` with ``"binomial"``.
        TypeError: non-numeric arguments.
    """
    _check_choice(rule, "rule", _RULES)
    _check_choice(examples, "examples", _EXAMPLES)
    r, T = _quality(r), _temperature(T)
    M, num_examples = _num_examples(M, examples)
    if rule == "unsupervised" and (value := _concrete(r)) is not None and np.any(value == 0):
        raise ValueError("rule='unsupervised' needs r > 0 (its couplings are normalised by r^2)")
    static = (rule, num_examples, _is_zero(T), tol, max_steps)
    return jit_broadcast(_solve_one, (r, M, T), static=static)


def _is_zero(T: Array) -> bool:
    """``True`` iff ``T`` is known at trace time and zero everywhere (a static shortcut)."""
    value = _concrete(T)
    return value is not None and bool(np.all(value == 0))


def retrieval_overlap(
    r: ArrayLike, M: ArrayLike, T: ArrayLike = 0.0, rule: str = "supervised", *, examples: str = "gaussian"
) -> Float[Array, "..."]:
    """Mattis overlap ``m`` of the retrieval state with the archetype (see :func:`solve`).

    ``T = 0``: ``m = erf(1 / sqrt(2 rho))``, ``rho = (1 - r^2)/(M r^2)`` (Gaussian law), or
    ``P(k > M/2) - P(k < M/2)`` with ``k ~ Binomial(M, (1 + r)/2)`` (``examples="binomial"``).
    ``T > 0``: the self-consistent ``m = E_v tanh(beta p v / c)``.

    Args, Raises: as :func:`solve`. Returns: float array of the broadcast shape (the status is
    in :func:`solve`; out-of-domain traced values give NaN).
    """
    return solve(r, M, T, rule=rule, examples=examples).value.m


def dataset_entropy(r: ArrayLike, M: ArrayLike) -> Float[Array, "..."]:
    """``rho = (1 - r^2) / (M r^2)`` (``Var v / (E v)^2`` of the class average; ``inf`` at ``r = 0``).

    Args: ``r`` in ``[0, 1]``, ``M > 0`` (float scalars or broadcastable arrays).
    Raises: ValueError for concrete values out of range.
    """
    return _rho(_quality(r), _array(M, "M", 0.0, strict=True))


def critical_temperature(r: ArrayLike, M: ArrayLike, rule: str = "supervised") -> Float[Array, "..."]:
    """``T_c = E v^2 / c``: 1 for the supervised rule, ``1 + rho`` for the unsupervised one.

    Args: as :func:`dataset_entropy`, ``rule`` ``"supervised"``/``"unsupervised"``.
    Raises: ValueError for an unknown rule or concrete values out of range.
    """
    _check_choice(rule, "rule", _RULES)
    rho = dataset_entropy(r, M)
    return jnp.ones_like(rho) if rule == "supervised" else 1.0 + rho


# --------------------------------------------------------------------------- sample size


def _overlap_at_rho(log_rho, params, rule, zero_temperature):
    """Gaussian-law ``m`` at dataset entropy ``rho`` (units ``v / r``: mean 1, sd ``sqrt(rho)``)."""
    m_target, T = params
    rho = jnp.exp(log_rho)
    sd = jnp.sqrt(rho)
    zero = jax.scipy.special.erf(1.0 / jnp.sqrt(2.0 * rho))
    if zero_temperature:
        return zero - m_target
    positive = T > 0
    T_s = jnp.where(positive, T, 1.0)
    c = 1.0 + rho if rule == "supervised" else jnp.ones_like(rho)
    beta_over_c = 1.0 / (T_s * c)
    p0 = jax.scipy.special.erf(1.0 / (jnp.sqrt(2.0) * sd)) + sd * _SQRT_2_OVER_PI * jnp.exp(-0.5 / rho)
    sol = fixed_point.solve(_RhoUpdate(), {"p": p0}, (beta_over_c, sd))
    p = sol.value["p"]
    slope = beta_over_c * jnp.abs(jax.lax.stop_gradient(p))
    m_t = _gaussian_average(lambda v: jnp.tanh(beta_over_c * p * v), 1.0, sd, slope)
    return jnp.where(positive, m_t, zero) - m_target


@dataclasses.dataclass(frozen=True)
class _RhoUpdate:
    """Update of ``p`` in units ``v / r`` (mean 1, sd ``sqrt(rho)``); hashable for jit's cache."""

    def __call__(self, x, prm):
        b, s = prm
        slope = b * jnp.abs(jax.lax.stop_gradient(x["p"]))
        return {"p": _gaussian_average(lambda v: v * jnp.tanh(b * x["p"] * v), 1.0, s, slope)}


@dataclasses.dataclass(frozen=True)
class _RhoResidual:
    rule: str
    zero_temperature: bool

    def __call__(self, log_rho, params):
        return _overlap_at_rho(log_rho, params, self.rule, self.zero_temperature)


def _sample_size_one(r, m_target, T, rule, zero_temperature, tol):
    bad = ~((r > 0) & (r <= 1) & (m_target > 0) & (m_target < 1) & (T >= 0) & jnp.isfinite(T))
    residual = _RhoResidual(rule, zero_temperature)
    # An unreachable target would give a NaN root whose NaN implicit derivative leaks into the
    # gradients of valid points (0 * NaN in reverse mode): solve a safe problem there instead.
    ends = [jax.lax.stop_gradient(residual(jnp.asarray(x, T.dtype), (m_target, T))) for x in _LOG_RHO_RANGE]
    bad = bad | ~((ends[0] > 0) & (ends[1] < 0))
    m_s = jnp.where(bad, 0.5, m_target)
    T_s = jnp.where(bad, 0.0, T)
    sol = fixed_point.bracket_root(residual, *_LOG_RHO_RANGE, (m_s, T_s), tol=tol)
    rho = jnp.exp(sol.value)
    r_s = jnp.where(bad, 0.5, r)
    size = (1.0 - r_s**2) / (r_s**2 * rho)
    status = flag(sol.status, Status.INVALID_PARAMETER, bad)
    return Solution(jnp.where(bad, jnp.nan, size), status, sol.num_steps)


def critical_sample_size(
    r: ArrayLike, m_target: ArrayLike = 0.9, T: ArrayLike = 0.0, *, rule: str = "supervised", tol: float = 1e-12
) -> Solution:
    """Examples per class ``M*`` at which the retrieval overlap reaches ``m_target`` (Gaussian law).

    ``m`` depends on ``(rho, T)`` only, so ``rho*`` solves ``m(rho*, T) = m_target`` (Brent's
    method, :func:`jaxphys.theory.fixed_point.bracket_root`, in ``log rho`` over
    ``[1e-6, 1e6]``) and ``M* = (1 - r^2) / (r^2 rho*)``; more examples give a larger overlap.
    At ``T = 0`` this is ``M* = 2 (1 - r^2) erfinv(m_target)^2 / r^2``. ``M*`` is real: a
    dataset needs ``ceil(M*)`` examples. At ``T > 0`` the overlap saturates at the Curie-Weiss
    value ``m(rho -> 0)`` (``m = tanh(m / T)``, supervised), so larger targets are unreachable.

    Args:
        r: quality in ``(0, 1]``, float scalar or array.
        m_target: target overlap in ``(0, 1)``, float scalar or array.
        T: temperature ``>= 0``, float scalar or array. All three broadcast together.
        rule: ``"supervised"`` or ``"unsupervised"`` (the same at ``T = 0``).
        tol: absolute tolerance on ``log rho*``, Python float ``> 0``.

    Returns:
        ``Solution(value=M*, status, num_steps)``; differentiable in ``r`` (explicitly),
        ``m_target`` and ``T`` (implicit function theorem). ``INVALID_PARAMETER`` (NaN value)
        for an unreachable target or traced values out of range.

    Raises:
        ValueError: unknown rule; concrete ``r`` outside ``(0, 1]``, ``m_target`` outside
            ``(0, 1)``, ``T < 0`` or non-finite values.
    """
    _check_choice(rule, "rule", _RULES)
    r = _array(r, "r", 0.0, strict=True, high=1.0, hint=" (r = 0 carries no signal)")
    m_target = _array(m_target, "m_target", 0.0, strict=True, high=1.0)
    if (value := _concrete(m_target)) is not None and np.any(value >= 1):
        raise ValueError(f"m_target must be < 1 (m = 1 needs infinitely many examples), got {value}")
    T = _temperature(T)
    return jit_broadcast(_sample_size_one, (r, m_target, T), static=(rule, _is_zero(T), tol))
