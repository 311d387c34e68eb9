"""The chain driver: run one Markov chain under ``lax.scan`` and reduce observables on device.

``run(key, sampler, model, beta, num_sweeps)`` does ``burn_in`` sweeps, then ``num_sweeps``
sweeps measuring every ``thin``-th one. Measurements are reduced as they come: they are
averaged into ``num_bins`` consecutive bins (plus a shifted sum of squares for the raw
variance), so memory does not grow with the run length and the whole trace is kept only if
``trace=True``. Error bars come from the binning analysis of the bin means
(:func:`jaxphys.observables.stats.binning`), which accounts for autocorrelation; the integrated
autocorrelation time follows from ``stderr^2 = 2 tau_int Var(O) / n``.

Everything is a pure function of ``(key, model, beta, x0)``, so ``jax.vmap`` runs many chains,
temperatures or disorder replicas at once; :func:`combine` merges the chain axis and
:func:`derived` gives jackknife error bars of nonlinear functions of averages (Binder
cumulant, susceptibility).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .. import _progress, status as st
from ..models.base import float_dtype
from ..observables import stats
from ..observables.thermodynamic import STANDARD
from .base import Sampler, check_beta, random_spins


class RunResult(NamedTuple):
    """Result of :func:`run` (each field gains leading axes under ``vmap``).

    Attributes:
        mean: name -> average of the observable over the measured sweeps.
        stderr: name -> standard error of ``mean``, from binning (autocorrelation included).
        tau_int: name -> integrated autocorrelation time in measurements (``thin`` sweeps),
            Sokal convention ``1/2 + sum_t rho(t)`` (1/2 for uncorrelated data).
        bins: name -> bin means, shape ``(num_bins,)``: the input of jackknife error bars.
        converged: name -> whether the binning error plateaued (False: the run is too short
            compared with that observable's autocorrelation time; its error bar is a lower bound).
        info: the sampler's Info averaged over the measured sweeps (e.g. ``acceptance_rate``).
        status: int32 bitmask (:class:`jaxphys.status.Status`): sampler trouble, and
            ``UNRELIABLE_ERROR`` if an error bar did not plateau (run longer).
        state: final sampler state (pass ``state.spins`` as ``x0`` to continue the chain).
        trace: name -> every measurement, shape ``(num_measurements,)``, only with ``trace=True``.
    """

    mean: dict[str, Array]
    stderr: dict[str, Array]
    tau_int: dict[str, Array]
    bins: dict[str, Array]
    converged: dict[str, Array]
    info: Any
    status: Array
    state: Any
    trace: dict[str, Array] | None = None



def _check_run_arguments(sampler, num_sweeps, burn_in, thin, num_bins, observables):
    if not isinstance(sampler, Sampler):
        raise TypeError(f"sampler must be a jaxphys.mc.Sampler (e.g. jaxphys.mc.metropolis()), got {type(sampler).__name__}")
    for name, value in (("num_sweeps", num_sweeps), ("thin", thin), ("num_bins", num_bins)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(burn_in, (int, np.integer)) or burn_in < 0:
        raise ValueError(f"burn_in must be a non-negative int, got {burn_in!r}")
    if num_sweeps // thin < 2:
        raise ValueError(f"num_sweeps // thin = {num_sweeps // thin}: need at least 2 measurements for an error bar")
    if not isinstance(observables, Mapping) or not observables:
        raise TypeError("observables must be a non-empty dict mapping names to functions (model, spins) -> scalar")
    for name, fn in observables.items():
        if not callable(fn):
            raise TypeError(f"observable {name!r} is not callable; expected a function (model, spins) -> scalar")


def run(
    key,
    sampler: Sampler,
    model,
    beta,
    num_sweeps: int,
    *,
    burn_in: int | None = None,
    observables: Mapping[str, Callable] | None = None,
    x0=None,
    thin: int = 1,
    num_bins: int = 64,
    trace: bool = False,
    throw: bool = False,
    progress: bool = False,
) -> RunResult:
    """Run one Markov chain and return observable averages with autocorrelation-aware error bars.

    Args:
        key: ``jax.random.key``.
        sampler: a ``Sampler`` (``metropolis()``, ``heatbath()``, ``checkerboard()``, ``wolff()``...).
        model: the spin model (an ``eqx.Module``; may be a vmapped ensemble under ``vmap``).
        beta: inverse temperature, scalar >= 0.
        num_sweeps: measured sweeps (sampler steps) after burn-in.
        burn_in: discarded sweeps first; default ``num_sweeps // 10``.
        observables: name -> ``(model, spins) -> scalar``; default ``observables.STANDARD``
            (energy, magnetization, abs_magnetization, m2, m4, energy2; all per spin).
        x0: initial configuration (int8 +-1, model shape); default uniformly random. Required for
            continuous samplers (:func:`jaxphys.mc.hmc` etc.), whose observables get ``state.spins``
            = ``state.position``.
        thin: measure every ``thin``-th sweep.
        num_bins: bins of the on-device reduction (error bars need ``num_bins >= 16``; fewer
            measurements than bins use one bin per measurement).
        trace: also return every measurement (memory ``O(num_sweeps / thin)``).
        throw: raise (also under ``jit``) if the sampler reported NaN or an invalid beta.
        progress: show a progress bar (tqdm) advancing bin by bin, via a host callback; under
            ``vmap`` it advances once per bin for the whole batch. Inside an outer ``jit`` the bar
            closes at trace time and nothing is shown (the results are unaffected).

    Returns:
        :class:`RunResult`.

    Raises:
        ValueError/TypeError: negative or NaN beta, bad sizes, wrong spin shape or dtype.
    """
    observables = STANDARD if observables is None else observables
    burn_in = num_sweeps // 10 if burn_in is None else burn_in
    _check_run_arguments(sampler, num_sweeps, burn_in, thin, num_bins, observables)
    beta = check_beta(beta)
    if x0 is None and not hasattr(model, "spin_shape"):
        raise TypeError("the model has no spin_shape to draw a random start from; pass x0 (e.g. the initial position of mc.hmc)")
    if x0 is not None and hasattr(model, "check_spins"):  # continuous samplers' models have none
        model.check_spins(x0)
    bar = (min(num_bins, num_sweeps // thin), "mc.run bins", "bin")
    result = _progress.call(
        progress, bar, _run, key, sampler, model, beta, x0, num_sweeps, burn_in, thin, num_bins, dict(observables), trace, progress
    )
    if throw:
        result = result._replace(mean=st.check(result.mean, result.status))
    return result


@eqx.filter_jit
def _run(key, sampler, model, beta, x0, num_sweeps, burn_in, thin, num_bins, observables, trace, progress):
    num_measurements = num_sweeps // thin
    num_bins = min(num_bins, num_measurements)
    bin_size = num_measurements // num_bins
    # Measurements that do not fill a whole bin are made first and discarded: extra burn-in.
    extra = (num_measurements - num_bins * bin_size) * thin + (num_sweeps - num_measurements * thin)

    key_init, key_burn, key_measure = jax.random.split(key, 3)
    if x0 is None:
        x0 = random_spins(key_init, model.spin_shape)
    state = sampler.init(model, x0)

    def sweep(state, k):
        return sampler.step(k, state, model, beta)

    def advance(state, k, n):
        if n == 0:
            return state
        return jax.lax.scan(lambda s, kk: (sweep(s, kk)[0], None), state, jax.random.split(k, n))[0]

    state = advance(state, key_burn, burn_in + extra)

    def measure(state):
        return {name: jnp.asarray(fn(model, state.spins), float_dtype()) for name, fn in observables.items()}

    # Sums of (O - shift) and (O - shift)^2 with shift = first measurement: avoids float32
    # cancellation in the raw variance when Var(O) << <O>^2 (e.g. energies near the ground state).
    shift = measure(state)

    def measured_step(carry, k):
        state, _ = carry
        keys = jax.random.split(k, thin)
        for t in range(thin - 1):
            state = sweep(state, keys[t])[0]
        state, info = sweep(state, keys[thin - 1])
        values = measure(state)
        return (state, info), (values, info)

    _, info_shape = jax.eval_shape(sweep, state, key_measure)
    info0 = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), info_shape)

    def one_bin(state, k_and_index):
        k, index = k_and_index
        (state, _), (values, infos) = jax.lax.scan(measured_step, (state, info0), jax.random.split(k, bin_size))
        _progress.tick(index, progress)
        centred = jax.tree.map(lambda v, s: v - s, values, shift)
        sums = jax.tree.map(lambda c: jnp.mean(c, axis=0), centred)
        squares = jax.tree.map(lambda c: jnp.mean(c**2, axis=0), centred)
        info_mean = jax.tree.map(lambda x: jnp.mean(x.astype(float_dtype()), axis=0), infos)
        return state, (sums, squares, info_mean, values if trace else None)

    state, (bin_centred, bin_squares, bin_info, series) = jax.lax.scan(
        one_bin, state, (jax.random.split(key_measure, num_bins), jnp.arange(num_bins))
    )

    mean, stderr, tau, bins, converged = {}, {}, {}, {}, {}
    status = state.status
    for name in observables:
        centred = bin_centred[name]
        raw_variance = jnp.mean(bin_squares[name], axis=0) - jnp.mean(centred, axis=0) ** 2
        analysis = stats.binning(centred, raw_variance=raw_variance, bin_size=bin_size, min_bins=min(16, num_bins))
        mean[name] = analysis.mean + shift[name]
        stderr[name] = analysis.stderr
        tau[name] = analysis.tau_int
        bins[name] = centred + shift[name]
        converged[name] = jnp.all(analysis.converged)
        status = st.flag(status, st.Status.UNRELIABLE_ERROR, ~jnp.all(analysis.converged))
        status = st.flag(status, st.Status.NAN, ~jnp.all(jnp.isfinite(mean[name])))
    info = jax.tree.map(lambda x: jnp.mean(x, axis=0), bin_info)
    full_trace = None
    if trace:
        full_trace = {name: series[name].reshape((num_bins * bin_size, *series[name].shape[2:])) for name in observables}
    return RunResult(mean, stderr, tau, bins, converged, info, status, state, full_trace)


def combine(result: RunResult, axis: int = 0) -> RunResult:
    """Merge independent chains stacked along ``axis`` (e.g. the output of ``jax.vmap(run)``).

    Means are averaged, ``stderr = sqrt(sum_c stderr_c^2) / C`` (independent chains), bins are
    concatenated (so :func:`derived` uses all of them), ``tau_int`` and ``info`` are averaged,
    ``converged`` is AND-ed and status bits are OR-ed. The final ``state`` and ``trace`` keep the chain axis.
    """
    num = jax.tree.leaves(result.mean)[0].shape[axis]
    mean = {k: jnp.mean(v, axis=axis) for k, v in result.mean.items()}
    stderr = {k: jnp.sqrt(jnp.sum(v**2, axis=axis)) / num for k, v in result.stderr.items()}
    tau = {k: jnp.mean(v, axis=axis) for k, v in result.tau_int.items()}
    bins = {}
    for k, v in result.bins.items():
        moved = jnp.moveaxis(v, axis, -2)  # (..., chains, num_bins)
        bins[k] = moved.reshape((*moved.shape[:-2], moved.shape[-2] * moved.shape[-1]))
    converged = {k: jnp.all(v, axis=axis) for k, v in result.converged.items()}
    info = jax.tree.map(lambda x: jnp.mean(x, axis=axis), result.info)
    status = jax.lax.reduce(result.status, np.int32(0), jax.lax.bitwise_or, (axis % result.status.ndim,))
    return RunResult(mean, stderr, tau, bins, converged, info, status, result.state, result.trace)


def derived(result: RunResult, fn: Callable[[dict[str, Array]], Any]):
    """Jackknife estimate and error of a function of averages, e.g. the Binder cumulant.

    ``fn`` maps a dict of means (same names as ``result.mean``) to a pytree; it is evaluated on
    the bin means with one bin left out at a time (:func:`jaxphys.observables.stats.jackknife`),
    which is valid when bins are longer than the autocorrelation time (see ``result.status``).
    Works on one chain or on :func:`combine` d chains; batch axes other than the bins must be
    vmapped by the caller.

    Returns:
        ``(estimate, stderr)`` pytrees like ``fn``'s output.

    Example::

        binder = lambda m: 1 - m["m4"] / (3 * m["m2"] ** 2)
        value, error = derived(combine(results), binder)
    """
    names = list(result.bins)
    return stats.jackknife(lambda *cols: fn(dict(zip(names, cols))), *[result.bins[k] for k in names])
