"""Statistics of Monte Carlo time series: binning, jackknife, autocorrelation and tau_int.

Every function reads axis 0 as Monte Carlo time (or the index of bins); trailing axes are
independent observables analysed elementwise, and leading batch axes come from ``jax.vmap``
(over chains, temperatures, disorder replicas). Everything is ``jnp``, jittable and vmappable;
shapes and sizes are static, values are never inspected except to reject bad concrete input.

Convention (Sokal): for a stationary series x_1..x_N with autocorrelation rho(t),

    tau_int = 1/2 + sum_{t>=1} rho(t),      Var(xbar) = 2 tau_int Var(x) / N   (N >> tau_int),

so uncorrelated data have tau_int = 1/2 (AR(1) with coefficient r: tau_int = (1+r) / (2 (1-r))).

Contents and the papers they follow:

* :func:`bin_means`, :func:`binning_curve`, :func:`binning`: blocking analysis of
  H. Flyvbjerg and H. G. Petersen, J. Chem. Phys. 91, 461 (1989), with the plateau and
  convergence reading of V. Ambegaokar and M. Troyer, Am. J. Phys. 78, 150 (2010).
* :func:`jackknife`: delete-one jackknife (Quenouille 1956, Tukey 1958; B. Efron, "The
  Jackknife, the Bootstrap and Other Resampling Plans", SIAM 1982, ch. 2-3).
* :func:`autocorrelation`, :func:`tau_int`: FFT estimator of rho(t) and the self-consistent
  window of A. D. Sokal, "Monte Carlo Methods in Statistical Mechanics: Foundations and New
  Algorithms" (Cargese lectures, 1996), with the error of N. Madras and A. D. Sokal,
  J. Stat. Phys. 50, 109 (1988).
* :func:`uwerr`: the Gamma method with automatic windowing and bias correction of U. Wolff,
  "Monte Carlo errors with less errors", Comput. Phys. Commun. 156, 143 (2004)
  [hep-lat/0306017], for a single replica of a primary observable.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._validate import as_count as _as_count

from ..models.base import float_dtype, is_concrete

__all__ = [
    "BinningCurve",
    "BinningResult",
    "TauResult",
    "UWerrResult",
    "autocorrelation",
    "bin_means",
    "binning",
    "binning_curve",
    "jackknife",
    "tau_int",
    "uwerr",
]


class BinningCurve(NamedTuple):
    """Blocking levels k = 0..L-1 of :func:`binning_curve`.

    ``stderr``: ``(L, ...)`` naive error of the mean at each level, ``sigma_k``.
    ``num_bins``: ``(L,)`` int32, number of bins ``n_k`` at level k.
    ``bin_size``: ``(L,)`` int32, input samples per bin at level k (``2^k``).
    """

    stderr: Float[Array, "L ..."]
    num_bins: Int[Array, " L"]
    bin_size: Int[Array, " L"]


class BinningResult(NamedTuple):
    """Result of :func:`binning`; every field has the trailing shape ``(...)`` of the input.

    ``mean``: mean of the series. ``stderr``: plateau error of the mean (largest level error).
    ``tau_int``: integrated autocorrelation time in raw steps (Sokal convention).
    ``converged``: bool, the error did not grow from the second-last to the last blocking level by more than its statistical error.
    """

    mean: Float[Array, "..."]
    stderr: Float[Array, "..."]
    tau_int: Float[Array, "..."]
    converged: Bool[Array, "..."]


class TauResult(NamedTuple):
    """Result of :func:`tau_int`: ``tau_int``, the ``window`` W (int32) and the ``stderr`` of tau_int."""

    tau_int: Float[Array, "..."]
    window: Int[Array, "..."]
    stderr: Float[Array, "..."]


class UWerrResult(NamedTuple):
    """Result of :func:`uwerr` (Wolff's Gamma method), each of the input's trailing shape.

    ``mean``, its ``stderr``, ``tau_int`` (bias-corrected), ``tau_int_stderr`` and ``window`` W.
    """

    mean: Float[Array, "..."]
    stderr: Float[Array, "..."]
    tau_int: Float[Array, "..."]
    tau_int_stderr: Float[Array, "..."]
    window: Int[Array, "..."]


# --------------------------------------------------------------------------- input checks


def _as_series(x: Any, name: str, min_length: int) -> Array:
    """``x`` as a real floating array with at least ``min_length`` entries along axis 0."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real array, got the bool {x!r}")
    arr = jnp.asarray(x)
    if arr.dtype == jnp.bool_ or not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real (float or int) array, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a time axis 0, got a 0-d array; pass a series of shape (N, ...)")
    if arr.shape[0] < min_length:
        what = "is empty" if arr.shape[0] == 0 else f"has only {arr.shape[0]} entries along axis 0"
        raise ValueError(f"{name} {what}; need at least {min_length} (shape {arr.shape})")
    if jnp.issubdtype(arr.dtype, jnp.integer):
        arr = arr.astype(float_dtype())
    elif jnp.finfo(arr.dtype).bits < 32:
        # Sums of many float16/bfloat16 samples lose all precision; accumulate in float32.
        arr = arr.astype(jnp.float32)
    return arr


def _along_time(values: Array, ndim: int) -> Array:
    """Reshape a 1-d array over axis 0 to broadcast against an ``ndim``-d series."""
    return values.reshape((-1,) + (1,) * (ndim - 1))


def _naive_stderr(bins: Array) -> Array:
    """``std(bins, ddof=1) / sqrt(n)``: the error of the mean if the bins were independent."""
    n = bins.shape[0]
    deviations = bins - jnp.mean(bins, axis=0)
    return jnp.sqrt(jnp.sum(deviations**2, axis=0) / (n - 1) / n)


# --------------------------------------------------------------------------- binning


def bin_means(x: Float[Array, "N ..."], num_bins: int) -> Float[Array, "num_bins ..."]:
    """Means of ``num_bins`` consecutive bins of equal size along axis 0.

    The bin size is ``b = N // num_bins``; the first ``N - num_bins * b`` samples are dropped
    (the remainder is taken at the *start*, the part of a chain closest to burn-in, so the most
    equilibrated samples are kept).

    Args:
        x: series of shape ``(N, ...)``, float or int (ints are converted to the default float).
        num_bins: static int, ``1 <= num_bins <= N``.

    Returns:
        ``(num_bins, ...)`` bin means ``B_j = (1/b) sum_{i in bin j} x_i``.

    Raises:
        TypeError: ``x`` not real, or ``num_bins`` not an int.
        ValueError: ``x`` 0-d or empty, or ``num_bins`` outside ``[1, N]``.
    """
    x = _as_series(x, "x", 1)
    num_bins = _as_count(num_bins, "num_bins", 1)
    n = x.shape[0]
    if num_bins > n:
        raise ValueError(f"num_bins={num_bins} exceeds the series length N={n}; use num_bins <= N")
    size = n // num_bins
    start = n - num_bins * size
    return jnp.mean(x[start:].reshape((num_bins, size) + x.shape[1:]), axis=1)


def _check_min_bins(min_bins: Any, n: int) -> int:
    min_bins = _as_count(min_bins, "min_bins", 2)
    if n < min_bins:
        raise ValueError(
            f"binning needs at least min_bins={min_bins} bin means, got {n}; lower min_bins "
            f"(>= 2) or pass more bins (e.g. bin_means(x, num_bins) with num_bins >= {min_bins})"
        )
    return min_bins


def binning_curve(bin_means: Float[Array, "n ..."], *, min_bins: int = 16) -> BinningCurve:
    """Blocking levels of a series (Flyvbjerg & Petersen 1989).

    Level 0 is the input ``B^(0) = bin_means`` (``n_0 = n`` entries). Level k+1 merges
    neighbouring pairs, ``B^(k+1)_j = (B^(k)_{2j} + B^(k)_{2j+1}) / 2``, after dropping the
    *first* entry when ``n_k`` is odd (as :func:`bin_means` drops the remainder at the start);
    levels are formed while ``n_{k+1} = floor(n_k / 2) >= min_bins``. At each level

        sigma_k = std(B^(k), ddof=1) / sqrt(n_k),

    the error of the mean if the level-k bins were independent; it grows with k and plateaus at
    the true error once the bins are much longer than the autocorrelation time.

    Args:
        bin_means: ``(n, ...)`` series (raw samples or bin means), float or int.
        min_bins: static int >= 2; the smallest number of bins a level may have.

    Returns:
        :class:`BinningCurve` with ``stderr`` of shape ``(L, ...)``.

    Raises:
        TypeError: non-real input or non-int ``min_bins``.
        ValueError: empty or 0-d input, ``min_bins < 2``, or fewer than ``min_bins`` entries.
    """
    bins = _as_series(bin_means, "bin_means", 1)
    errors, counts = _blocking_levels(bins, _check_min_bins(min_bins, bins.shape[0]))
    return BinningCurve(
        stderr=errors,
        num_bins=jnp.asarray(counts, jnp.int32),
        bin_size=jnp.asarray([2**k for k in range(len(counts))], jnp.int32),
    )


def _blocking_levels(bins: Array, min_bins: int) -> tuple[Array, list[int]]:
    """``(L, ...)`` level errors sigma_k and the static bin counts n_k (see :func:`binning_curve`)."""
    errors, counts = [], []
    while True:
        errors.append(_naive_stderr(bins))
        counts.append(bins.shape[0])
        half = bins.shape[0] // 2
        if half < min_bins:
            return jnp.stack(errors), counts
        bins = bins[bins.shape[0] - 2 * half :]
        bins = 0.5 * (bins[0::2] + bins[1::2])


def binning(
    bin_means: Float[Array, "n ..."],
    *,
    raw_variance: Float[Array, "..."] | float | None = None,
    bin_size: int = 1,
    min_bins: int = 16,
) -> BinningResult:
    """Error of the mean of a correlated series by binning (Flyvbjerg-Petersen, Ambegaokar-Troyer).

    With ``sigma_k`` the blocking levels of :func:`binning_curve`:

        stderr    = max_k sigma_k                          (conservative plateau value)
        converged = sigma_L - sigma_{L-1} <= sqrt(d_L^2 + d_{L-1}^2),
                    d_k = sigma_k / sqrt(2 (n_k - 1))      (relative error of a std from n_k values)
        tau_int   = stderr^2 N / (2 Var(x)),   N = n * bin_size raw samples

    i.e. ``stderr^2 = 2 tau_int Var(x) / N`` in the Sokal convention (tau_int = 1/2 without
    correlations). ``Var(x)`` is ``raw_variance`` if given (the variance of the raw series, e.g.
    from streaming sums), else the sample variance ``n sigma_0^2`` of the input itself, which is the
    raw variance only when the input *is* the raw series (``bin_size = 1``); then
    ``tau_int = (stderr / sigma_0)^2 / 2``.

    ``converged`` is False when only one level exists (n < 2 min_bins) and when the input holds a
    NaN. It is a weak, advisory check (``Status.UNRELIABLE_ERROR``): the last level has only
    ``min_bins..2 min_bins - 1`` bins, a ~15-18% error on sigma. Measured with min_bins = 16:
    iid Gaussian series (plateau from level 0) are flagged in ~9% of cases although their error
    bars are fine; AR(1) series with tau_int = 100 and N = 4096 are still passed in ~75% and
    with tau_int = 1000, N = 16384 in ~25% (their errors then come out 25-45% too small).
    ``stderr`` takes the largest level, never less than the level-0 error, and the noise of the
    last levels biases it up: measured +9% for iid data (tau_int 0.60 instead of 0.5) and +8% for
    AR(1) with tau_int = 4.5 analysed from 1024 bins of 64 samples.

    Args:
        bin_means: ``(n, ...)`` bin means of one chain (or the raw series), float or int.
        raw_variance: variance of the raw series, broadcastable to ``(...)``; ``None`` to use the
            input's own variance (allowed only with ``bin_size == 1``).
        bin_size: raw samples per input bin (static int >= 1), to express tau_int in raw steps.
        min_bins: static int >= 2, the smallest number of bins a level may have.

    Returns:
        :class:`BinningResult` ``(mean, stderr, tau_int, converged)``, each of shape ``(...)``.
        ``tau_int`` is NaN where the variance is zero (a constant series: undefined), negative
        (rounding in streaming sums) or NaN; ``raw_variance`` is treated as data, never raising.

    Raises:
        TypeError: non-real input, non-int ``bin_size``/``min_bins``.
        ValueError: empty or 0-d input, ``n < min_bins``, ``min_bins < 2``, ``bin_size < 1``,
            ``bin_size > 1`` without ``raw_variance``, or a ``raw_variance`` whose shape does
            not broadcast to ``(...)``.
    """
    bins = _as_series(bin_means, "bin_means", 1)
    bin_size = _as_count(bin_size, "bin_size", 1)
    n = bins.shape[0]
    levels, counts = _blocking_levels(bins, _check_min_bins(min_bins, n))
    dtype = bins.dtype

    if raw_variance is None:
        if bin_size != 1:
            raise ValueError(
                "binning(..., bin_size > 1) needs raw_variance (the variance of the raw series) to "
                "express tau_int in raw steps; pass it, or leave bin_size=1 to get tau_int in units "
                "of the input entries"
            )
        variance = n * levels[0] ** 2
    else:
        variance = jnp.asarray(raw_variance)
        if variance.dtype == jnp.bool_ or not (
            jnp.issubdtype(variance.dtype, jnp.floating) or jnp.issubdtype(variance.dtype, jnp.integer)
        ):
            raise TypeError(f"raw_variance must be real, got dtype {variance.dtype}")
        variance = variance.astype(dtype)
        try:
            fits = np.broadcast_shapes(variance.shape, bins.shape[1:]) == bins.shape[1:]
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"raw_variance has shape {variance.shape}, which does not broadcast to the "
                f"observable shape {bins.shape[1:]}"
            )

    stderr = jnp.max(levels, axis=0)
    if len(counts) >= 2:
        last, previous = levels[-1], levels[-2]
        n_last, n_previous = counts[-1], counts[-2]
        tolerance = jnp.sqrt(last**2 / (2.0 * (n_last - 1)) + previous**2 / (2.0 * (n_previous - 1)))
        # One-sided: an error still growing by more than its noise means no plateau yet; a drop
        # is noise. Halves the false alarms of a two-sided test (~4% of iid series) at equal power.
        converged = last - previous <= tolerance
    else:
        converged = jnp.zeros(stderr.shape, jnp.bool_)
    # raw_variance is data (streaming sums), not a parameter: a value rounded below zero or NaN
    # must not raise in an eager run, it makes tau_int NaN like any undefined ratio.
    tau = jnp.where(variance >= 0, 0.5 * (n * bin_size) * stderr**2 / variance, jnp.nan)
    return BinningResult(
        mean=jnp.mean(bins, axis=0),
        stderr=stderr,
        tau_int=jnp.broadcast_to(tau, stderr.shape),
        converged=converged,
    )


# --------------------------------------------------------------------------- jackknife


def jackknife(fn: Callable[..., Any], *samples: Float[Array, "n ..."]) -> tuple[Any, Any]:
    """Delete-one jackknife estimate and error of ``fn`` of the means of ``samples``.

    With ``n`` entries along axis 0 (typically bin means much longer than tau_int, so that
    they are nearly independent), ``a = mean(samples)`` and the leave-one-out means
    ``a_(i) = (n a - x_i) / (n - 1)``, ``f_i = fn(*a_(i))``, ``fbar = mean_i f_i``:

        estimate = n fn(*a) - (n - 1) fbar                  (removes the O(1/n) bias)
        stderr   = sqrt((n - 1)/n sum_i (f_i - fbar)^2)

    (Quenouille's bias correction and Tukey's variance; Efron 1982, ch. 2-3). For linear ``fn`` this is the mean and ``std(ddof=1)/sqrt(n)``;
    for smooth ``fn`` the error agrees with the delta method to O(1/n).

    Args:
        fn: pure jnp function of ``len(samples)`` arrays of shapes ``samples[j].shape[1:]``,
            returning a pytree of arrays; it is vmapped over the leave-one-out means.
        *samples: one or more arrays of shape ``(n, ...)`` with the same ``n >= 2``.

    Returns:
        ``(estimate, stderr)``, two pytrees with the structure and shapes of ``fn``'s output.

    Raises:
        TypeError: ``fn`` not callable, or a non-real sample.
        ValueError: no samples, fewer than 2 entries, or samples of different lengths.
    """
    if not callable(fn):
        raise TypeError(f"jackknife(fn, *samples): fn must be callable, got {type(fn).__name__}")
    if not samples:
        raise ValueError("jackknife needs at least one sample array: jackknife(fn, x, y, ...)")
    arrays = [_as_series(s, f"samples[{j}]", 2) for j, s in enumerate(samples)]
    n = arrays[0].shape[0]
    lengths = [a.shape[0] for a in arrays]
    if any(length != n for length in lengths):
        raise ValueError(f"all samples must have the same length along axis 0, got {lengths}")
    means = [jnp.mean(a, axis=0) for a in arrays]
    # a + (a - x_i)/(n - 1) equals (n a - x_i)/(n - 1) without cancelling two large sums.
    leave_one_out = [m + (m - a) / (n - 1) for m, a in zip(means, arrays)]
    full = fn(*means)
    partial = jax.vmap(fn)(*leave_one_out)

    def estimate(f_all, f_loo):
        # n f - (n-1) fbar written as f + (n-1) mean(f - f_i): the differences are small and
        # exact-ish, where n f - (n-1) fbar would cancel log10(n) digits (float32).
        return f_all + (n - 1) * jnp.mean(f_all - f_loo, axis=0)

    def stderr(f_loo):
        deviations = f_loo - jnp.mean(f_loo, axis=0)
        return jnp.sqrt((n - 1) / n * jnp.sum(deviations**2, axis=0))

    return jax.tree.map(estimate, full, partial), jax.tree.map(stderr, partial)


# --------------------------------------------------------------------------- autocorrelation


def _autocovariance(x: Array) -> Array:
    """``Gamma(t) = 1/(N - t) sum_{i=0}^{N-1-t} d_i d_{i+t}``, ``d = x - xbar``, t = 0..N-1, by FFT."""
    n = x.shape[0]
    deviations = x - jnp.mean(x, axis=0)
    # Zero-padding to >= 2N turns the FFT's circular correlation into the linear one.
    size = 1 << (2 * n - 1).bit_length()
    spectrum = jnp.fft.rfft(deviations, n=size, axis=0)
    products = jnp.fft.irfft(spectrum * jnp.conj(spectrum), n=size, axis=0)[:n]
    lags = jnp.arange(n, dtype=x.dtype)
    return products.astype(x.dtype) / _along_time(n - lags, x.ndim)


def autocorrelation(x: Float[Array, "N ..."]) -> Float[Array, "N ..."]:
    """Normalised autocorrelation function ``rho(t) = Gamma(t) / Gamma(0)`` along axis 0.

        Gamma(t) = 1/(N - t) sum_{i=1}^{N-t} (x_i - xbar)(x_{i+t} - xbar),    t = 0..N-1

    (the estimator of Sokal 1996 and Wolff 2004), computed in O(N log N) with a zero-padded FFT.
    Only lags ``t << N`` are meaningful: the estimate at lag t averages N - t products.

    Args:
        x: series of shape ``(N, ...)`` with ``N >= 2``, float or int.

    Returns:
        ``(N, ...)`` array with ``rho(0) = 1``; NaN for a constant series (Gamma(0) = 0).

    Raises:
        TypeError: non-real input. ValueError: 0-d input or ``N < 2``.
    """
    x = _as_series(x, "x", 2)
    gamma = _autocovariance(x)
    return gamma / gamma[0]


def _check_positive(value: Any, name: str) -> Array:
    arr = jnp.asarray(value, float_dtype())
    if is_concrete(arr) and not bool(jnp.all(jnp.isfinite(arr) & (arr > 0))):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return arr


def _first_true(condition: Array) -> Array:
    """Index of the first True along axis 0, or the last index if there is none."""
    found = jnp.any(condition, axis=0)
    return jnp.where(found, jnp.argmax(condition, axis=0), condition.shape[0] - 1)


def _at(values: Array, index: Array) -> Array:
    """``values[index[...], ...]`` elementwise over the trailing axes."""
    return jnp.take_along_axis(values, index[None].astype(jnp.int32), axis=0)[0]


def tau_int(x: Float[Array, "N ..."], *, c: float = 5.0) -> TauResult:
    """Integrated autocorrelation time with Sokal's self-consistent window.

        tau_int(W) = 1/2 + sum_{t=1}^{W} rho(t),   W = the smallest W >= 1 with W >= c tau_int(W),
        stderr     = sqrt(2 (2W + 1) / N) tau_int(W)           (Madras & Sokal 1988)

    with ``rho`` from :func:`autocorrelation` (Sokal 1996, sec. 3). ``c = 5`` suits roughly
    exponential decay (it leaves a bias ~ exp(-c) relative); use 6-10 for slower tails. The window
    is searched in ``1..N//2``; if no W satisfies the condition (series shorter than a few tens of
    tau_int) ``window = N // 2`` and the reported error, ~ 2 tau_int, says the estimate is useless.
    Reliable results need ``N`` of order 1000 tau_int.

    Args:
        x: series of shape ``(N, ...)`` with ``N >= 2``, float or int.
        c: window factor, a finite number > 0 (may be traced).

    Returns:
        :class:`TauResult` ``(tau_int, window, stderr)``, each of shape ``(...)``; ``window`` int32.
        NaN ``tau_int`` for a constant series.

    Raises:
        TypeError: non-real input. ValueError: 0-d input, ``N < 2``, or a concrete ``c <= 0``/NaN.
    """
    x = _as_series(x, "x", 2)
    c = _check_positive(c, "c").astype(x.dtype)
    n = x.shape[0]
    max_window = n // 2
    rho = autocorrelation(x)
    windows = jnp.arange(1, max_window + 1, dtype=x.dtype)
    tau_of_window = 0.5 + jnp.cumsum(rho[1 : max_window + 1], axis=0)
    index = _first_true(_along_time(windows, x.ndim) >= c * tau_of_window)
    tau = _at(tau_of_window, index)
    window = index.astype(jnp.int32) + 1
    stderr = jnp.sqrt(2.0 * (2.0 * window.astype(x.dtype) + 1.0) / n) * tau
    return TauResult(tau_int=tau, window=window, stderr=stderr)


def uwerr(x: Float[Array, "N ..."], *, s_tau: float = 1.5) -> UWerrResult:
    """Wolff's Gamma method: mean, error and tau_int with automatic windowing (one replica).

    With ``Gamma(t)`` as in :func:`autocorrelation` and
    ``G(W) = sum_{t=1}^{W} Gamma(t) / Gamma(0)`` (= tau_int(W) - 1/2), the window is the first
    ``W = 1..N//2`` with

        g(W) = exp(-W / tau_W) - tau_W / sqrt(W N) < 0,   tau_W = s_tau / ln((G + 1) / G)

    (``tau_W`` is the exponential time implied by ``G`` if tau_exp = s_tau tau_int; ``G <= 0``
    stops at once), which balances the truncation bias ~ exp(-W/tau) against the statistical
    error ~ sqrt(W/N). Then the bias of Gamma from the subtracted mean is removed,
    ``Gamma(t) += C(W) / N`` with ``C(W) = Gamma(0) + 2 sum_{t=1}^{W} Gamma(t)``,
    and

        stderr   = sqrt(C(W) / N),    tau_int = C(W) / (2 Gamma(0)),
        tau_int_stderr = 2 tau_int sqrt((W + 1/2 - tau_int) / N)

    all as in Wolff's paper and his reference code UWerr.m (version 6, 2006).

    If no window is found, ``window = N // 2``. Wolff's ``s_tau = 1.5`` is the default;
    ``s_tau = 0`` is not allowed (use ``std/sqrt(N)`` if the data are known to be independent).

    Args:
        x: series of shape ``(N, ...)`` with ``N >= 2``, float or int.
        s_tau: guess for tau_exp / tau_int, a finite number > 0.

    Returns:
        :class:`UWerrResult` ``(mean, stderr, tau_int, tau_int_stderr, window)`` of shape ``(...)``.
        A constant series gives ``stderr = 0`` and NaN ``tau_int``.

    Raises:
        TypeError: non-real input. ValueError: 0-d input, ``N < 2``, concrete ``s_tau <= 0``/NaN.
    """
    x = _as_series(x, "x", 2)
    s_tau = _check_positive(s_tau, "s_tau").astype(x.dtype)
    n = x.shape[0]
    max_window = n // 2
    gamma = _autocovariance(x)
    windows = _along_time(jnp.arange(1, max_window + 1, dtype=x.dtype), x.ndim)
    partial_sums = jnp.cumsum(gamma[1 : max_window + 1], axis=0)
    g_sum = partial_sums / gamma[0]
    positive = g_sum > 0
    tau_w = s_tau / jnp.log1p(1.0 / jnp.where(positive, g_sum, 1.0))
    # G(W) <= 0: no positive correlation left, Wolff stops there (g < 0 by fiat).
    criterion = jnp.where(positive, jnp.exp(-windows / tau_w) - tau_w / jnp.sqrt(windows * n), -1.0)
    index = _first_true(criterion < 0)
    window = index.astype(jnp.int32) + 1
    variance_sum = gamma[0] + 2.0 * _at(partial_sums, index)
    correction = variance_sum / n
    gamma0 = gamma[0] + correction
    variance_sum = variance_sum + (2.0 * window.astype(x.dtype) + 1.0) * correction
    tau = variance_sum / (2.0 * gamma0)
    w = window.astype(x.dtype)
    return UWerrResult(
        mean=jnp.mean(x, axis=0),
        stderr=jnp.sqrt(jnp.maximum(variance_sum, 0.0) / n),
        tau_int=tau,
        tau_int_stderr=2.0 * tau * jnp.sqrt(jnp.maximum(w + 0.5 - tau, 0.0) / n),
        window=window,
    )

