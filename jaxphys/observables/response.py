"""Derivatives of thermal averages and histogram reweighting.

**Derivative estimators.** For a Boltzmann weight ``p_theta(x) = exp(-beta E_theta(x)) / Z`` and
an observable ``O_theta(x)``, differentiating ``<O> = sum_x O p`` gives the fluctuation formulas

    d<O>/dtheta = <dO/dtheta> - beta Cov(O, dE/dtheta),      d<O>/dbeta = -Cov(O, E),

with ``Cov(A, B) = <A B> - <A><B>`` (observables here are ``(model, spins) -> scalar`` and do not
depend on beta). ``theta`` is any floating leaf of the model (``J``, ``h``, every ``J_ij`` of an
SK sample...). ``jax.grad`` through accept/reject or through discrete spins would give zero,
so these covariances are what a Monte Carlo derivative must be:

* :func:`from_samples`: the estimator on given configurations, optionally weighted (with the
  exact Boltzmann weights of all 2^N configurations it is exact);
* :func:`beta_derivative`: ``-Cov(O, E)`` from a time series ``(E_t, O_t)`` with jackknife errors;
* :func:`average`: a Monte Carlo average (``mc.run``) wrapped with ``jax.custom_jvp``, so that
  ``jax.grad`` / ``jax.jacfwd`` / ``jax.jvp`` with respect to the model and beta return the
  estimator, computed from the same chain (the JVP rule streams ``O, E, O E, dO/dtheta,
  dE/dtheta, O dE/dtheta`` through ``mc.run``);
* :func:`average_and_derivative`: the same run with jackknife error bars over the bins.

**Reweighting.** :func:`reweight` is single-histogram reweighting (A. M. Ferrenberg and
R. H. Swendsen, Phys. Rev. Lett. 61, 2635 (1988)):

    <O>_beta = sum_t O_t exp(-(beta - beta0) E_t) / sum_t exp(-(beta - beta0) E_t),

evaluated with log-sum-exp. :func:`multiple_histogram` combines runs at several inverse
temperatures (A. M. Ferrenberg and R. H. Swendsen, Phys. Rev. Lett. 63, 1195 (1989); the same
equations as WHAM, Kumar et al. J. Comput. Chem. 13, 1011 (1992), and MBAR for this family of
ensembles, Shirts and Chodera, J. Chem. Phys. 129, 124105 (2008)) with the self-consistent
free energies

    ln Z_r = ln sum_n exp(-beta_r E_n) / D_n,      D_n = sum_s N_s exp(-beta_s E_n) / Z_s,

over all samples n of all runs. Error bars of both come from a delete-one-block jackknife over
contiguous blocks of each series (blocks should be longer than the autocorrelation time).
:func:`newton_root` locates a root of ``<O>(beta) - target`` with Newton steps that use the
reweighted derivative.

Energies passed to the reweighting functions are *total* energies ``E`` (the Boltzmann weight is
``exp(-beta E)``), not energies per spin.

Precision: in the Monte Carlo estimators the covariances are differences of raw moments
streamed in the default float dtype; for large systems in float32 (``<O><E> >> Cov(O, E)``)
enable ``jax_enable_x64``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .. import status as st
from .._validate import as_count
from ..models.base import float_dtype, is_concrete
from . import stats

__all__ = [
    "Derivative",
    "MultipleHistogram",
    "NewtonResult",
    "Response",
    "Reweighted",
    "average",
    "average_and_derivative",
    "beta_derivative",
    "from_samples",
    "multiple_histogram",
    "newton_root",
    "reweight",
]


# --------------------------------------------------------------------------- results


class Derivative(NamedTuple):
    """An average and its derivatives (for a dict of observables each field is a dict by name).

    ``mean``: ``<O>``, scalar. ``beta``: ``d<O>/dbeta``, scalar. ``model``: ``d<O>/dmodel``, a
    pytree shaped like the model with the derivative in every floating leaf and ``None`` in the
    other leaves (integers, static fields).
    """

    mean: Any
    beta: Any
    model: Any


class Response(NamedTuple):
    """Result of :func:`average_and_derivative`.

    ``value``: :class:`Derivative` from the whole run. ``stderr``: :class:`Derivative` of the
    standard errors (binning error for the mean, delete-one-bin jackknife for the derivatives).
    ``status``: int32 status word of the run (:class:`jaxphys.status.Status`).
    """

    value: Derivative
    stderr: Derivative
    status: Int[Array, ""]


class Reweighted(NamedTuple):
    """Result of :func:`reweight` at ``B`` target inverse temperatures.

    ``mean``: ``(B, ...)`` reweighted ``<O>_beta``. ``stderr``: ``(B, ...)`` jackknife error.
    ``log_partition``: ``(B,)`` ``ln Z(beta) - ln Z(beta0)``. ``log_partition_stderr``: ``(B,)``.
    ``effective_samples``: ``(B,)`` Kish size ``(sum w)^2 / sum w^2`` of the reweighting
    weights; when it falls to a few percent of the series length the reweighted values are
    dominated by a handful of samples and ``beta`` is too far from ``beta0``.
    """

    mean: Float[Array, "B ..."]
    stderr: Float[Array, "B ..."]
    log_partition: Float[Array, " B"]
    log_partition_stderr: Float[Array, " B"]
    effective_samples: Float[Array, " B"]


class MultipleHistogram(NamedTuple):
    """Result of :func:`multiple_histogram` on a grid of ``G`` inverse temperatures.

    ``mean``: ``(G, ...)`` ``<O>_beta``. ``stderr``: ``(G, ...)`` jackknife error.
    ``log_partition``: ``(G,)`` ``ln Z(beta) - ln Z(betas[0])``; ``log_partition_stderr``: ``(G,)``.
    ``free_energies``: ``(R,)`` dimensionless ``beta_r F_r - beta_0 F_0 = -(ln Z_r - ln Z_0)`` of
    the runs. ``status``: ``NOT_CONVERGED`` if the self-consistent iteration hit
    ``max_iterations``, ``NAN`` if a NaN appeared. ``num_iterations``: iterations of the full solve.
    """

    mean: Float[Array, "G ..."]
    stderr: Float[Array, "G ..."]
    log_partition: Float[Array, " G"]
    log_partition_stderr: Float[Array, " G"]
    free_energies: Float[Array, " R"]
    status: Int[Array, ""]
    num_iterations: Int[Array, ""]


class NewtonResult(NamedTuple):
    """Result of :func:`newton_root`: ``beta`` (root), ``value`` (``<O>(beta) - target`` there),
    ``status`` (``NOT_CONVERGED`` if the steps ran out or left the trusted range), ``num_steps``."""

    beta: Float[Array, ""]
    value: Float[Array, ""]
    status: Int[Array, ""]
    num_steps: Int[Array, ""]


# --------------------------------------------------------------------------- input checks


def _as_observables(observable) -> tuple[tuple[str, ...], tuple[Callable, ...], bool]:
    """``(names, functions, single)`` from a function or a dict name -> function."""
    if callable(observable) and not isinstance(observable, Mapping):
        return ("value",), (observable,), True
    if not isinstance(observable, Mapping) or not observable:
        raise TypeError(
            "observable must be a function (model, spins) -> scalar or a non-empty dict name -> function, "
            f"got {type(observable).__name__}"
        )
    for name, fn in observable.items():
        if not callable(fn):
            raise TypeError(f"observable {name!r} is not callable; expected a function (model, spins) -> scalar")
    return tuple(observable), tuple(observable.values()), False


def _check_observable_shapes(fns, names, model) -> None:
    spins = jax.ShapeDtypeStruct(model.spin_shape, jnp.int8)
    for name, fn in zip(names, fns):
        out = jax.eval_shape(fn, model, spins)
        if getattr(out, "shape", None) != ():
            raise ValueError(
                f"observable {name!r} must return a scalar, got {getattr(out, 'shape', type(out).__name__)}; "
                "pass one function per component (a dict of observables)"
            )


def _as_beta(beta, name: str = "beta") -> Array:
    if isinstance(beta, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got the bool {beta!r}")
    b = jnp.asarray(beta)
    if not (jnp.issubdtype(b.dtype, jnp.floating) or jnp.issubdtype(b.dtype, jnp.integer)):
        raise TypeError(f"{name} must be real, got dtype {b.dtype}")
    b = b.astype(float_dtype())
    if is_concrete(b) and not np.all(np.isfinite(np.asarray(b))):
        raise ValueError(f"{name} must be finite, got {beta!r}; beta = 1/T with T > 0")
    return b


def _as_real(x, name: str, ndim_min: int = 1) -> Array:
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real array, got the bool {x!r}")
    arr = jnp.asarray(x)
    if arr.dtype == jnp.bool_ or not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real (float or int) array, got dtype {arr.dtype}")
    if arr.ndim < ndim_min:
        raise ValueError(f"{name} must be a series with a time axis 0, got shape {arr.shape}")
    return arr.astype(jnp.promote_types(arr.dtype, float_dtype()) if jnp.issubdtype(arr.dtype, jnp.floating) else float_dtype())


def _check_finite(arr: Array, name: str) -> None:
    if is_concrete(arr) and not np.all(np.isfinite(np.asarray(arr))):
        raise ValueError(f"{name} contains NaN or infinity; remove the failed measurements (check the run's status)")


def _check_series(energies, values, name: str = "") -> tuple[Array, Array]:
    e = _as_real(energies, f"energies{name}")
    o = _as_real(values, f"values{name}")
    if e.ndim != 1:
        raise ValueError(f"energies{name} must be 1-d (one total energy per sample), got shape {e.shape}")
    if e.shape[0] == 0:
        raise ValueError(f"energies{name} is empty; pass a non-empty series")
    if o.shape[0] != e.shape[0]:
        raise ValueError(
            f"energies{name} and values{name} must have the same length along axis 0, got {e.shape[0]} and {o.shape[0]}"
        )
    _check_finite(e, f"energies{name}")
    _check_finite(o, f"values{name}")
    return e, o


def _check_weights(weights, length: int, name: str = "weights") -> Array | None:
    if weights is None:
        return None
    w = _as_real(weights, name)
    if w.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},) (one weight per sample), got {w.shape}")
    if is_concrete(w):
        wn = np.asarray(w)
        if not np.all(np.isfinite(wn)) or np.any(wn < 0) or not np.any(wn > 0):
            raise ValueError(f"{name} must be finite, >= 0 and not all zero")
    return w


def _block_index(length: int, num_blocks: int) -> np.ndarray:
    """Contiguous blocks of near-equal sizes: sample t belongs to block ``t * num_blocks // length``."""
    return (np.arange(length) * num_blocks) // length


# --------------------------------------------------------------------------- per-configuration terms


def _flatten_leaves(tree, leading: tuple[int, ...] = ()) -> Array:
    """Concatenate the array leaves of ``tree`` (``None`` dropped), each reshaped to ``(*leading, -1)``."""
    leaves = [jnp.reshape(leaf, (*leading, -1)) for leaf in jax.tree.leaves(tree)]
    if not leaves:
        return jnp.zeros((*leading, 0), float_dtype())
    return jnp.concatenate(leaves, axis=-1).astype(float_dtype())


def _unflatten_leaves(flat: Array, params) -> Any:
    """Inverse of :func:`_flatten_leaves` along the last axis, in the structure of ``params``."""
    leaves, treedef = jax.tree.flatten(params)
    pieces, start = [], 0
    for leaf in leaves:
        size = int(np.prod(leaf.shape))
        pieces.append(flat[..., start : start + size].reshape((*flat.shape[:-1], *leaf.shape)))
        start += size
    return jax.tree.unflatten(treedef, pieces)


def _configuration_terms(fns, model, spins) -> dict[str, Array]:
    """``O`` (K,), ``E`` (), ``dO`` (K, P) and ``dE`` (P,) of one configuration.

    ``P`` counts the entries of the model's floating leaves in ``jax.tree.leaves`` order.
    """
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def energy(p):
        return eqx.combine(p, static).energy(spins)

    def observables(p):
        m = eqx.combine(p, static)
        return jnp.stack([jnp.asarray(fn(m, spins), float_dtype()) for fn in fns])

    e, de = jax.value_and_grad(energy)(params)
    o, pullback = jax.vjp(observables, params)
    (do,) = jax.vmap(pullback)(jnp.eye(len(fns), dtype=o.dtype))
    return {"O": o, "E": jnp.asarray(e, float_dtype()), "dO": _flatten_leaves(do, (len(fns),)), "dE": _flatten_leaves(de)}


class _Streams(eqx.Module):
    """One ``mc.run`` observable: the concatenated per-configuration streams.

    ``full=False``: ``[O]``; ``full=True``: ``[O (K), E (1), O E (K), dO (K P), dE (P), O dE (K P)]``.
    A Module with the user's functions as static fields, so ``mc.run``'s ``filter_jit`` cache
    sees the same observable on every call.
    """

    fns: tuple = eqx.field(static=True)
    full: bool = eqx.field(static=True)

    def __call__(self, model, spins):
        if not self.full:
            return jnp.stack([jnp.asarray(fn(model, spins), float_dtype()) for fn in self.fns])
        t = _configuration_terms(self.fns, model, spins)
        o, e, do, de = t["O"], t["E"], t["dO"], t["dE"]
        return jnp.concatenate([o, e[None], o * e, do.ravel(), de, (o[:, None] * de[None, :]).ravel()])


def _split_streams(means: Array, num_observables: int, num_params: int) -> dict[str, Array]:
    k, p = num_observables, num_params
    sizes = {"O": (k,), "E": (), "OE": (k,), "dO": (k, p), "dE": (p,), "OdE": (k, p)}
    out, start = {}, 0
    for name, shape in sizes.items():
        size = int(np.prod(shape))
        out[name] = means[..., start : start + size].reshape((*means.shape[:-1], *shape))
        start += size
    return out


def _assemble(moments: dict[str, Array], beta: Array) -> tuple[Array, Array, Array]:
    """``(<O>, d<O>/dbeta, d<O>/dparams)`` from the averaged streams (shapes (K,), (K,), (K, P))."""
    o = moments["O"]
    d_beta = -(moments["OE"] - o * moments["E"])
    d_params = moments["dO"] - beta * (moments["OdE"] - o[:, None] * moments["dE"][None, :])
    return o, d_beta, d_params


def _package(names, single, params, mean, d_beta, d_params) -> Derivative:
    """:class:`Derivative` of arrays indexed by observable -> per-name (or single) pytrees."""
    model_grads = [_unflatten_leaves(d_params[..., i, :], params) for i in range(len(names))]
    if single:
        return Derivative(mean[..., 0], d_beta[..., 0], model_grads[0])
    return Derivative(
        {n: mean[..., i] for i, n in enumerate(names)},
        {n: d_beta[..., i] for i, n in enumerate(names)},
        dict(zip(names, model_grads)),
    )


# --------------------------------------------------------------------------- estimators on samples


@eqx.filter_jit
def _from_samples_core(fns, model, beta, spins, weights):
    """Jitted body of :func:`from_samples`: ``(<O>, d<O>/dbeta, d<O>/dparams)`` with centred covariances."""
    terms = jax.vmap(lambda s: _configuration_terms(fns, model, s))(spins)
    w = weights / jnp.sum(weights)

    def average(x):
        return jnp.tensordot(w, x, axes=(0, 0))

    o_mean, e_mean, de_mean = average(terms["O"]), average(terms["E"]), average(terms["dE"])
    o_c = terms["O"] - o_mean  # (T, K)
    d_beta = -average(o_c * (terms["E"] - e_mean)[:, None])
    cov_de = jnp.einsum("t,tk,tp->kp", w, o_c, terms["dE"] - de_mean)
    d_params = average(terms["dO"]) - beta * cov_de
    return o_mean, d_beta, d_params


def from_samples(model, beta, observable, spins, *, weights=None) -> Derivative:
    """Average and derivatives of ``<O>`` from configurations, by the fluctuation formulas.

        <O> = sum_t w_t O(x_t),   d<O>/dbeta = -Cov_w(O, E),
        d<O>/dtheta = <dO/dtheta>_w - beta Cov_w(O, dE/dtheta)      (every floating leaf theta),

    with normalised weights ``w`` (uniform for Monte Carlo samples of ``exp(-beta E)``; pass the
    exact Boltzmann probabilities of all configurations, e.g.
    ``exact.enumeration.probabilities(model, beta)`` with ``configurations(model.spin_shape)``,
    to get the exact derivative). Covariances are computed from centred values.

    Args:
        model: spin model (``eqx.Module``); its floating leaves are the parameters theta.
        beta: inverse temperature at which ``spins`` were sampled (scalar, finite).
        observable: ``(model, spins) -> scalar``, or a dict name -> such functions.
        spins: ``(T, *model.spin_shape)`` int8 configurations (e.g. a trace of spins).
        weights: optional ``(T,)`` non-negative sample weights (normalised here).

    Returns:
        :class:`Derivative` ``(mean, beta, model)``; for a dict of observables each field is a
        dict by name. Memory is ``O(T K P)`` for ``K`` observables and ``P`` parameters.

    Raises:
        TypeError: non-callable observable, spins not int8. ValueError: spins of the wrong
        shape or empty, non-scalar observable, non-finite beta, bad weights.
    """
    names, fns, single = _as_observables(observable)
    beta = _as_beta(beta)
    spins = jnp.asarray(spins)
    shape = tuple(model.spin_shape)
    if spins.ndim != len(shape) + 1 or tuple(spins.shape[1:]) != shape:
        raise ValueError(f"spins must have shape (T, *{shape}) (a batch of configurations), got {spins.shape}")
    if spins.shape[0] == 0:
        raise ValueError("spins is empty; pass at least one configuration")
    model.check_spins(spins[0] if not is_concrete(spins) else np.asarray(spins)[0])
    _check_observable_shapes(fns, names, model)
    weights = _check_weights(weights, spins.shape[0])
    if weights is None:
        weights = jnp.ones((spins.shape[0],), float_dtype())
    o_mean, d_beta, d_params = _from_samples_core(fns, model, beta, spins, weights)
    params = eqx.filter(model, eqx.is_inexact_array)
    return _package(names, single, params, o_mean, d_beta, d_params)


def beta_derivative(energies, values, *, num_blocks: int = 32) -> tuple[Array, Array]:
    """``d<O>/dbeta = -Cov(O, E)`` from a time series, with a delete-one-block jackknife error.

    Args:
        energies: ``(T,)`` total energies ``E_t`` sampled at the inverse temperature of interest.
        values: ``(T,)`` or ``(T, ...)`` observable values ``O_t`` of the same samples.
        num_blocks: contiguous blocks for the jackknife (static int, ``2 <= num_blocks <= T``);
            blocks should be much longer than the autocorrelation time.

    Returns:
        ``(derivative, stderr)`` of shape ``values.shape[1:]``.

    Raises:
        ValueError: empty series, different lengths, NaN/inf, bad ``num_blocks``.
    """
    e, o = _check_series(energies, values)
    num_blocks = as_count(num_blocks, "num_blocks", 2)
    if num_blocks > e.shape[0]:
        raise ValueError(f"num_blocks = {num_blocks} exceeds the series length {e.shape[0]}; use fewer blocks")
    # Shift by the first sample: Cov is unchanged and float32 loses fewer digits.
    e = e - e[0]
    o_flat = (o - o[0]).reshape((o.shape[0], -1))
    index = jnp.asarray(_block_index(e.shape[0], num_blocks))
    sums = [jax.ops.segment_sum(x, index, num_blocks) for x in (jnp.ones_like(e), e, o_flat, o_flat * e[:, None])]

    def covariance(count, se, so, soe):
        return -(soe / count - (so / count) * (se / count))

    total = [jnp.sum(s, axis=0) for s in sums]
    estimate = covariance(*total)
    partial = jax.vmap(lambda j: covariance(*[t - s[j] for t, s in zip(total, sums)]))(jnp.arange(num_blocks))
    deviations = partial - jnp.mean(partial, axis=0)
    stderr = jnp.sqrt((num_blocks - 1) / num_blocks * jnp.sum(deviations**2, axis=0))
    estimate, stderr = estimate.reshape(o.shape[1:]), stderr.reshape(o.shape[1:])
    return estimate, stderr


# --------------------------------------------------------------------------- Monte Carlo with custom_jvp


def _run_streams(key, sampler, model, beta, x0, fns, full, num_sweeps, burn_in, thin, num_bins):
    from ..mc.run import run  # mc imports observables: import here to avoid a cycle

    return run(
        key, sampler, model, beta, num_sweeps, burn_in=burn_in, observables={"streams": _Streams(fns, full)},
        x0=x0, thin=thin, num_bins=num_bins,
    )


def _prepare(sampler, model, observable, num_sweeps, burn_in, thin, num_bins, x0):
    from ..mc.base import Sampler

    if not isinstance(sampler, Sampler):
        raise TypeError(f"sampler must be a jaxphys.mc.Sampler (e.g. jaxphys.mc.metropolis()), got {type(sampler).__name__}")
    names, fns, single = _as_observables(observable)
    _check_observable_shapes(fns, names, model)
    num_sweeps = as_count(num_sweeps, "num_sweeps", 2)
    thin = as_count(thin, "thin", 1)
    num_bins = as_count(num_bins, "num_bins", 2)
    burn_in = num_sweeps // 10 if burn_in is None else as_count(burn_in, "burn_in", 0)
    if x0 is not None:
        model.check_spins(x0)
    return names, fns, single, num_sweeps, burn_in, thin, num_bins


def average(
    key,
    sampler,
    model,
    beta,
    observable,
    num_sweeps: int,
    *,
    burn_in: int | None = None,
    x0=None,
    thin: int = 1,
    num_bins: int = 64,
):
    """Monte Carlo average ``<O>_beta`` whose JAX derivatives are the fluctuation estimators.

    The value is ``mc.run(...).mean`` of ``observable``. Under ``jax.jvp`` / ``jax.grad`` /
    ``jax.jacfwd`` with respect to ``model`` (its floating leaves) and ``beta`` the derivative is

        d<O> = <dO/dtheta . dtheta> - beta Cov(O, dE/dtheta . dtheta) - Cov(O, E) dbeta,

    computed by a ``jax.custom_jvp`` rule that reruns the same chain (same ``key``, so the same
    configurations) streaming ``O, E, O E, dO/dtheta, dE/dtheta, O dE/dtheta``; the tangent is
    then a linear contraction, so reverse mode works too. The key, sampler and spins get no
    derivative. Cost of the derivative run: every measurement also evaluates the gradients of
    ``E`` and of each observable with respect to all ``P`` floating model entries, and the bins
    hold ``O(K P)`` numbers for ``K`` observables (e.g. ``P = N^2`` couplings for SK). Works under ``jax.jit`` and ``jax.vmap`` (e.g. over ``beta``). Error bars:
    :func:`average_and_derivative`.

    Args:
        key: ``jax.random.key``.
        sampler: a ``jaxphys.mc.Sampler``.
        model: spin model; differentiate with ``jax.grad(..., argnums=2)`` or ``eqx.filter_grad``.
        beta: inverse temperature (scalar >= 0).
        observable: ``(model, spins) -> scalar`` or a dict name -> such functions.
        num_sweeps, burn_in, x0, thin, num_bins: as in :func:`jaxphys.mc.run`.

    Returns:
        scalar ``<O>`` (a dict name -> scalar for a dict of observables).

    Raises:
        TypeError/ValueError: bad sampler, observable, sizes, beta or x0 (see :func:`jaxphys.mc.run`).
    """
    names, fns, single, num_sweeps, burn_in, thin, num_bins = _prepare(
        sampler, model, observable, num_sweeps, burn_in, thin, num_bins, x0
    )
    params, static = eqx.partition(model, eqx.is_inexact_array)
    beta = _as_beta(beta)

    def run(p, b, k, x, full):
        return _run_streams(k, sampler, eqx.combine(p, static), b, x, fns, full, num_sweeps, burn_in, thin, num_bins)

    @jax.custom_jvp
    def mean_of(p, b, k, x):
        return run(p, b, k, x, False).mean["streams"]

    @mean_of.defjvp
    def mean_of_jvp(primals, tangents):
        p, b, k, x = primals
        dp, db = tangents[0], tangents[1]
        moments = _split_streams(run(p, b, k, x, True).mean["streams"], len(fns), _flatten_leaves(p).shape[-1])
        mean, d_beta, d_params = _assemble(moments, b)
        return mean, d_params @ _flatten_leaves(dp) + d_beta * db

    mean = mean_of(params, beta, key, x0)
    return mean[0] if single else {n: mean[i] for i, n in enumerate(names)}


def average_and_derivative(
    key,
    sampler,
    model,
    beta,
    observable,
    num_sweeps: int,
    *,
    burn_in: int | None = None,
    x0=None,
    thin: int = 1,
    num_bins: int = 64,
) -> Response:
    """``<O>``, ``d<O>/dbeta`` and ``d<O>/dmodel`` from one Monte Carlo run, with error bars.

    Same chain and formulas as the JVP of :func:`average` (``d<O>/dbeta = -Cov(O, E)``,
    ``d<O>/dtheta = <dO/dtheta> - beta Cov(O, dE/dtheta)``). The error of the mean is the
    binning error of ``mc.run``; the errors of the derivatives are a delete-one-bin jackknife
    over the ``num_bins`` bins (valid when bins are longer than the autocorrelation time; the
    ``UNRELIABLE_ERROR`` status bit says when binning did not plateau).

    Args: as :func:`average`.

    Returns:
        :class:`Response` ``(value, stderr, status)``.

    Raises:
        TypeError/ValueError: as :func:`average`.
    """
    names, fns, single, num_sweeps, burn_in, thin, num_bins = _prepare(
        sampler, model, observable, num_sweeps, burn_in, thin, num_bins, x0
    )
    beta = _as_beta(beta)
    params = eqx.filter(model, eqx.is_inexact_array)
    num_params = _flatten_leaves(params).shape[-1]
    result = _run_streams(key, sampler, model, beta, x0, fns, True, num_sweeps, burn_in, thin, num_bins)
    k = len(fns)

    def assemble(stream_means):
        return _assemble(_split_streams(stream_means, k, num_params), beta)

    value = assemble(result.mean["streams"])
    _, errors = stats.jackknife(assemble, result.bins["streams"])
    mean_stderr = result.stderr["streams"][:k]
    return Response(
        _package(names, single, params, *value),
        _package(names, single, params, mean_stderr, errors[1], errors[2]),
        result.status,
    )


# --------------------------------------------------------------------------- single histogram


def _log_weights(e, beta0, betas, log_prior):
    """``(B, T)`` log weights ``-(beta - beta0) E_t + ln prior_t``."""
    return -(betas[:, None] - beta0) * e[None, :] + log_prior[None, :]


@functools.partial(jax.jit, static_argnames=("num_blocks",))
def _reweight_core(e, o_flat, beta0, betas, log_prior, num_blocks):
    """Jitted body of :func:`reweight` (one compilation per shape instead of many eager ops)."""
    index = jnp.asarray(_block_index(e.shape[0], num_blocks))
    log_w = _log_weights(e, beta0, betas, log_prior)  # (B, T)
    shift = jnp.max(log_w, axis=1, keepdims=True)
    scaled = jnp.exp(log_w - shift)  # in [0, 1], the largest is 1
    block_w = jax.vmap(lambda x: jax.ops.segment_sum(x, index, num_blocks))(scaled)  # (B, nb)
    block_wo = jax.vmap(lambda x: jax.ops.segment_sum(x[:, None] * o_flat, index, num_blocks))(scaled)  # (B, nb, D)
    total_w, total_wo = jnp.sum(block_w, axis=1), jnp.sum(block_wo, axis=1)
    mean = total_wo / total_w[:, None]
    log_z = jnp.log(total_w) + shift[:, 0]
    loo_w = total_w[:, None] - block_w  # (B, nb)
    loo_mean = (total_wo[:, None, :] - block_wo) / loo_w[..., None]
    # Without block j the prior weights sum to 1 - P_j; renormalise so each replicate estimates ln Z.
    block_prior = jax.ops.segment_sum(jnp.exp(log_prior), index, num_blocks)
    loo_log_z = jnp.log(loo_w) + shift - jnp.log1p(-block_prior)[None, :]

    def jackknife_error(x, axis):
        deviations = x - jnp.mean(x, axis=axis, keepdims=True)
        return jnp.sqrt((num_blocks - 1) / num_blocks * jnp.sum(deviations**2, axis=axis))

    stderr = jackknife_error(loo_mean, 1)
    log_z_err = jackknife_error(loo_log_z, 1)
    ess = total_w**2 / jnp.sum(scaled**2, axis=1)
    return mean, stderr, log_z, log_z_err, ess


def reweight(energies, values, beta0, betas, *, weights=None, num_blocks: int = 32) -> Reweighted:
    """Single-histogram reweighting (Ferrenberg-Swendsen 1988) of a series sampled at ``beta0``.

        <O>_beta = sum_t O_t w_t / sum_t w_t,    w_t = p_t exp(-(beta - beta0) E_t),
        ln Z(beta) - ln Z(beta0) = ln sum_t w_t       (p_t: normalised sample weights, 1/T by default)

    computed with the log-sum-exp shift. Errors: delete-one-block jackknife over ``num_blocks``
    contiguous blocks of the series (ratio estimators are recomputed without each block).
    Reweighting is reliable while the energy histogram at ``beta`` overlaps the sampled one,
    roughly ``|beta - beta0| sqrt(Var E) <~ 1``; watch ``effective_samples``.

    Args:
        energies: ``(T,)`` total energies (weight ``exp(-beta E)``), finite.
        values: ``(T,)`` or ``(T, ...)`` observable values of the same samples.
        beta0: inverse temperature of the simulation (scalar, finite).
        betas: target inverse temperature(s), scalar or ``(B,)``, finite.
        weights: optional ``(T,)`` non-negative sample weights (e.g. exact Boltzmann
            probabilities at ``beta0`` of all configurations; then the result is exact).
        num_blocks: static int, ``2 <= num_blocks <= T``.

    Returns:
        :class:`Reweighted`; a scalar ``betas`` drops the leading ``B`` axis.

    Raises:
        ValueError: empty or mismatched series, NaN/inf energies or values, non-finite betas,
        bad weights or ``num_blocks``. TypeError: non-real input.
    """
    e, o = _check_series(energies, values)
    beta0 = _as_beta(beta0, "beta0")
    if beta0.ndim != 0:
        raise ValueError(f"beta0 must be a scalar, got shape {beta0.shape}")
    betas = _as_beta(betas, "betas")
    scalar = betas.ndim == 0
    if betas.ndim > 1:
        raise ValueError(f"betas must be a scalar or 1-d, got shape {betas.shape}")
    betas = jnp.atleast_1d(betas)
    num_blocks = as_count(num_blocks, "num_blocks", 2)
    if num_blocks > e.shape[0]:
        raise ValueError(f"num_blocks = {num_blocks} exceeds the series length {e.shape[0]}; use fewer blocks")
    w = _check_weights(weights, e.shape[0])
    log_prior = jnp.full(e.shape, -jnp.log(e.shape[0]), e.dtype) if w is None else jnp.log(w / jnp.sum(w))

    mean, stderr, log_z, log_z_err, ess = _reweight_core(e, o.reshape((o.shape[0], -1)), beta0, betas, log_prior, num_blocks)
    out_shape = (betas.shape[0], *o.shape[1:])
    result = Reweighted(mean.reshape(out_shape), stderr.reshape(out_shape), log_z, log_z_err, ess)
    if scalar:
        result = Reweighted(*(x[0] for x in result))
    return result


# --------------------------------------------------------------------------- multiple histogram


def _mbar_log_denominator(e, log_counts, betas, log_z):
    """``ln D_n = ln sum_r N_r exp(-beta_r E_n - ln Z_r)``, shape ``(n,)``."""
    return jax.nn.logsumexp(log_counts[:, None] - betas[:, None] * e[None, :] - log_z[:, None], axis=0)


def _mbar_solve(e, log_c, run_index, betas, num_runs, log_z0, max_iterations, tol):
    """Self-consistent ``ln Z_r`` (``ln Z_0 = 0``) for samples with log weights ``log_c``."""
    counts = jax.ops.segment_sum(jnp.exp(log_c), run_index, num_runs)
    log_counts = jnp.log(counts)

    def update(log_z):
        log_d = _mbar_log_denominator(e, log_counts, betas, log_z)
        new = jax.nn.logsumexp(log_c[None, :] - betas[:, None] * e[None, :] - log_d[None, :], axis=1)
        return new - new[0]

    def cond(carry):
        _, change, i = carry
        return (change > tol) & (i < max_iterations)

    def body(carry):
        log_z, _, i = carry
        new = update(log_z)
        return new, jnp.max(jnp.abs(new - log_z)), i + 1

    init = (log_z0, jnp.asarray(jnp.inf, e.dtype), jnp.zeros((), jnp.int32))
    log_z, change, num_iterations = jax.lax.while_loop(cond, body, init)
    return log_z, log_counts, change <= tol, num_iterations


def _mbar_evaluate(e, o_flat, log_c, betas, log_counts, log_z, grid):
    """``ln Z(beta) - ln Z_0`` ``(G,)`` and ``<O>_beta`` ``(G, D)`` on ``grid``."""
    log_d = _mbar_log_denominator(e, log_counts, betas, log_z)
    log_w = log_c[None, :] - grid[:, None] * e[None, :] - log_d[None, :]  # (G, n)
    log_zg = jax.nn.logsumexp(log_w, axis=1)
    p = jnp.exp(log_w - log_zg[:, None])
    return log_zg, p @ o_flat


def _concatenate_runs(energies, values, weights):
    if isinstance(energies, (jax.Array, np.ndarray)):
        energies = list(energies)
    if isinstance(values, (jax.Array, np.ndarray)):
        values = list(values)
    if not isinstance(energies, Sequence) or not isinstance(values, Sequence):
        raise TypeError("energies and values must be sequences of per-run series (or stacked (R, T) arrays)")
    if len(energies) != len(values):
        raise ValueError(f"energies and values must hold one series per run, got {len(energies)} and {len(values)} runs")
    if weights is not None and len(weights) != len(energies):
        raise ValueError(f"weights must hold one series per run, got {len(weights)} for {len(energies)} runs")
    es, os, cs = [], [], []
    for r, (e, o) in enumerate(zip(energies, values)):
        e, o = _check_series(e, o, f"[{r}]")
        if os and o.shape[1:] != os[0].shape[1:]:
            raise ValueError(f"values[{r}] has per-sample shape {o.shape[1:]}, values[0] has {os[0].shape[1:]}")
        c = None if weights is None else _check_weights(weights[r], e.shape[0], f"weights[{r}]")
        es.append(e)
        os.append(o)
        cs.append(c)
    return es, os, cs


@functools.partial(jax.jit, static_argnames=("lengths", "num_blocks", "max_iterations", "tol"))
def _multiple_histogram_core(e, o_flat, log_c, betas, grid, mean_e, lengths, num_blocks, max_iterations, tol):
    """Jitted body of :func:`multiple_histogram`: solve, evaluate on the grid, jackknife."""
    num_runs, dtype = len(lengths), e.dtype
    run_index = jnp.asarray(np.concatenate([np.full(n, r) for r, n in enumerate(lengths)]))
    block = jnp.asarray(np.concatenate([_block_index(n, num_blocks) for n in lengths]))

    # Initial guess: ln Z_r - ln Z_0 from the trapezoidal integral of -<E> over beta
    # (d ln Z / d beta = -<E>), with the betas sorted; good enough to start the iteration.
    order = jnp.argsort(betas)
    sorted_b, sorted_e = betas[order], mean_e[order]
    integral = jnp.concatenate([jnp.zeros(1, dtype), jnp.cumsum(-0.5 * (sorted_e[1:] + sorted_e[:-1]) * jnp.diff(sorted_b))])
    log_z_init = jnp.zeros(num_runs, dtype).at[order].set(integral)
    log_z_init = log_z_init - log_z_init[0]

    log_z, log_counts, converged, num_iterations = _mbar_solve(
        e, log_c, run_index, betas, num_runs, log_z_init, max_iterations, tol
    )
    log_zg, mean = _mbar_evaluate(e, o_flat, log_c, betas, log_counts, log_z, grid)

    def replicate(j):
        log_cj = jnp.where(block == j, -jnp.inf, log_c)
        lz, lc, _, _ = _mbar_solve(e, log_cj, run_index, betas, num_runs, log_z, max_iterations, tol)
        return _mbar_evaluate(e, o_flat, log_cj, betas, lc, lz, grid)

    loo_log_z, loo_mean = jax.lax.map(replicate, jnp.arange(num_blocks))

    def jackknife_error(x):
        deviations = x - jnp.mean(x, axis=0)
        return jnp.sqrt((num_blocks - 1) / num_blocks * jnp.sum(deviations**2, axis=0))

    return mean, jackknife_error(loo_mean), log_zg, jackknife_error(loo_log_z), log_z, converged, num_iterations


def multiple_histogram(
    energies,
    values,
    betas,
    grid,
    *,
    weights=None,
    num_blocks: int = 16,
    max_iterations: int = 10000,
    tol: float | None = None,
) -> MultipleHistogram:
    """Multiple-histogram reweighting (Ferrenberg-Swendsen 1989 / WHAM / MBAR) over runs at several betas.

    With samples ``n`` pooled over runs ``r = 0..R-1`` (``N_r`` samples at ``beta_r``), iterate

        ln D_n = ln sum_r N_r exp(-beta_r E_n - ln Z_r),    ln Z_r = ln sum_n exp(-beta_r E_n - ln D_n)

    to self-consistency (``ln Z_0 = 0`` fixes the constant; stop when ``max_r |change| <= tol``),
    then for any ``beta``

        ln Z(beta) = ln sum_n exp(-beta E_n - ln D_n),   <O>_beta = sum_n O_n exp(-beta E_n - ln D_n) / Z(beta).

    With sample weights ``c_n`` every sum over ``n`` is weighted and ``N_r = sum_{n in r} c_n``;
    weights ``1 / g_r`` on run ``r`` (``g_r = 2 tau_int`` of its energy) give the
    Ferrenberg-Swendsen correction for runs with different autocorrelation times.
    Errors: delete-one-block jackknife, block ``j`` removed from every run at once, the
    equations re-solved for each replicate (warm-started). Runs should overlap in energy
    (neighbouring betas with ``|beta_r - beta_s| sqrt(Var E) <~ 1``); the grid should stay within
    ``[min betas, max betas]`` or close to it.

    Args:
        energies: sequence of ``R >= 2`` total-energy series ``(N_r,)`` (or a stacked ``(R, T)`` array).
        values: matching sequence of ``(N_r,)`` or ``(N_r, ...)`` observable series.
        betas: ``(R,)`` inverse temperatures of the runs, finite and distinct.
        grid: scalar or ``(G,)`` target inverse temperatures.
        weights: optional sequence of ``(N_r,)`` non-negative sample weights (e.g. exact
            Boltzmann probabilities of all configurations at ``beta_r``; the result is then exact).
        num_blocks: static int, ``2 <= num_blocks <= min N_r``.
        max_iterations: static int cap of the self-consistent iteration.
        tol: convergence threshold on ``ln Z_r``; default ``100 eps`` of the float dtype.

    Returns:
        :class:`MultipleHistogram` (a scalar ``grid`` drops the leading ``G`` axis).

    Raises:
        ValueError: fewer than 2 runs, mismatched, empty or non-finite series, non-finite or
        repeated betas, bad weights or sizes. TypeError: non-real or non-sequence input.
    """
    es, os, cs = _concatenate_runs(energies, values, weights)
    num_runs = len(es)
    if num_runs < 2:
        raise ValueError(f"multiple_histogram needs runs at >= 2 betas, got {num_runs}; use reweight() for one run")
    betas = _as_beta(betas, "betas")
    if betas.shape != (num_runs,):
        raise ValueError(f"betas must have shape ({num_runs},) (one per run), got {betas.shape}")
    if is_concrete(betas) and len(np.unique(np.asarray(betas))) != num_runs:
        raise ValueError("betas must be distinct; merge runs at the same beta into one series")
    grid = _as_beta(grid, "grid")
    scalar = grid.ndim == 0
    if grid.ndim > 1:
        raise ValueError(f"grid must be a scalar or 1-d, got shape {grid.shape}")
    grid = jnp.atleast_1d(grid)
    num_blocks = as_count(num_blocks, "num_blocks", 2)
    shortest = min(e.shape[0] for e in es)
    if num_blocks > shortest:
        raise ValueError(f"num_blocks = {num_blocks} exceeds the shortest series ({shortest} samples); use fewer blocks")
    max_iterations = as_count(max_iterations, "max_iterations", 1)
    dtype = jnp.result_type(*es, float_dtype())
    tol = 100 * float(jnp.finfo(dtype).eps) if tol is None else float(tol)
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol}")

    if any(c is None for c in cs) and not all(c is None for c in cs):
        raise ValueError("give weights for every run or for none")
    e = jnp.concatenate(es).astype(dtype)
    o_flat = jnp.concatenate([o.reshape((o.shape[0], -1)) for o in os]).astype(dtype)
    log_c = jnp.zeros_like(e) if cs[0] is None else jnp.log(jnp.concatenate(cs).astype(dtype))
    mean_e = jnp.stack([jnp.mean(x) for x in es]).astype(dtype)
    lengths = tuple(int(x.shape[0]) for x in es)
    mean, mean_err, log_zg, log_zg_err, log_z, converged, num_iterations = _multiple_histogram_core(
        e, o_flat, log_c, betas.astype(dtype), grid.astype(dtype), mean_e, lengths, num_blocks, max_iterations, tol
    )
    status = st.flag(st.ok(), st.Status.NOT_CONVERGED, ~converged)
    status = st.flag(status, st.Status.NAN, ~(jnp.all(jnp.isfinite(mean)) & jnp.all(jnp.isfinite(log_z))))
    out_shape = (grid.shape[0], *os[0].shape[1:])
    result = MultipleHistogram(
        mean.reshape(out_shape),
        mean_err.reshape(out_shape),
        log_zg,
        log_zg_err,
        -log_z,
        status,
        num_iterations,
    )
    if scalar:
        result = result._replace(
            mean=result.mean[0], stderr=result.stderr[0], log_partition=result.log_partition[0],
            log_partition_stderr=result.log_partition_stderr[0],
        )
    return result


# --------------------------------------------------------------------------- Newton on reweighted curves


def newton_root(
    energies,
    values,
    beta0,
    target=0.0,
    *,
    beta_start=None,
    weights=None,
    max_steps: int = 20,
    tol: float = 1e-6,
    max_shift: float | None = None,
) -> NewtonResult:
    """Root of ``<O>(beta) = target`` by Newton steps on the single-histogram reweighted curve.

        beta_{k+1} = beta_k - (<O>_{beta_k} - target) / (d<O>/dbeta)_{beta_k},
        d<O>/dbeta = -Cov_beta(O, E)   (reweighted covariance from the same series)

    Use it to locate the inverse temperature at which an average reaches a value (an energy,
    ``<|m|>``, ``<m^2>``). For nonlinear functions of averages (Binder-cumulant crossings,
    susceptibility peaks) evaluate :func:`reweight` on a fine grid instead. The search stays
    within ``|beta - beta0| <= max_shift`` where reweighting is trusted.

    Args:
        energies: ``(T,)`` total energies sampled at ``beta0``. values: ``(T,)`` observable series.
        beta0: simulation inverse temperature. target: the value of ``<O>`` sought.
        beta_start: first iterate (default ``beta0``). max_steps: static int.
        weights: optional ``(T,)`` sample weights as in :func:`reweight`.
        tol: stop when ``|beta_{k+1} - beta_k| <= tol``.
        max_shift: trusted range; default ``2 / std(E)`` (energy histograms still overlap).

    Returns:
        :class:`NewtonResult`; ``NOT_CONVERGED`` if the steps ran out or an iterate left the
        trusted range (it is clipped to it).

    Raises:
        ValueError: as :func:`reweight`; ``values`` must be 1-d.
    """
    e, o = _check_series(energies, values)
    if o.ndim != 1:
        raise ValueError(f"values must be 1-d (one scalar observable), got shape {o.shape}")
    if e.shape[0] < 2:
        raise ValueError("need at least 2 samples to estimate a covariance")
    beta0 = _as_beta(beta0, "beta0")
    target = _as_beta(target, "target")
    max_steps = as_count(max_steps, "max_steps", 1)
    start = beta0 if beta_start is None else _as_beta(beta_start, "beta_start")
    w = _check_weights(weights, e.shape[0])
    prior = jnp.full_like(e, 1.0 / e.shape[0]) if w is None else w / jnp.sum(w)
    log_prior = jnp.log(prior)
    e_centred = e - prior @ e
    if max_shift is None:
        shift = 2.0 / jnp.maximum(jnp.sqrt(prior @ e_centred**2), jnp.finfo(e.dtype).tiny)
    else:
        shift = _as_beta(max_shift, "max_shift")

    def curve(beta):
        log_w = -(beta - beta0) * e_centred + log_prior
        p = jax.nn.softmax(log_w)
        mean_o = p @ o
        derivative = -(p @ (o * e_centred) - mean_o * (p @ e_centred))
        return mean_o - target, derivative

    def cond(carry):
        _, step, i, _ = carry
        return (jnp.abs(step) > tol) & (i < max_steps)

    def body(carry):
        beta, _, i, clipped = carry
        value, derivative = curve(beta)
        new = jnp.clip(beta - value / derivative, beta0 - shift, beta0 + shift)
        clipped = clipped | (jnp.abs(new - beta0) >= shift)
        return new, new - beta, i + 1, clipped

    init = (start, jnp.asarray(jnp.inf, e.dtype), jnp.zeros((), jnp.int32), jnp.zeros((), bool))
    beta, step, num_steps, clipped = jax.lax.while_loop(cond, body, init)
    value, _ = curve(beta)
    status = st.flag(st.ok(), st.Status.NOT_CONVERGED, (jnp.abs(step) > tol) | clipped)
    status = st.flag(status, st.Status.NAN, ~jnp.isfinite(beta))
    return NewtonResult(beta, value, status, num_steps)
