"""Datasets for learning experiments: teacher-student generators and real data shipped by a package.

Generators (all take a typed ``key`` first, draw inputs ``x ~ N(0, I_N)`` unless stated, and return
``(Dataset, teacher)`` so a test set labelled by the same teacher is one more call with
``teacher=...``): :func:`teacher_perceptron` (sign teacher, label flips; random labels for storage
problems), :func:`teacher_linear` (noisy linear regression), :func:`teacher_committee` (soft or hard
committee machine) and :func:`gaussian_mixture`. Noise levels and the mixture's signal-to-noise ratio may be traced, so
they can be vmapped over. No function here downloads anything at run time.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._validate import as_count, real_scalar
from ..models.base import float_dtype, is_concrete
from ..typing import PRNGKey

__all__ = ["Dataset", "digits", "gaussian_mixture", "teacher_committee", "teacher_linear", "teacher_perceptron"]


class Dataset(NamedTuple):
    """Inputs ``x`` (P, ...) and labels ``y`` (P, ...)."""

    x: Array
    y: Array


def digits(*, binarize: bool = False, spins: bool = False, dtype=jnp.float32) -> Dataset:
    """The 8 x 8 handwritten digits of scikit-learn (UCI optdigits test set; 1797 images, 10 classes).

    Shipped inside scikit-learn (``sklearn.datasets.load_digits``), so no download happens; scikit-learn
    is an optional dependency: ``pip install "jaxphys[data]"``.

    Args:
        binarize: threshold the grey levels (0..16) at 8 to {0, 1}.
        spins: map to Ising spins: ``+1`` where the grey level is >= 8, else ``-1`` (implies ``binarize``).
        dtype: floating dtype of ``x``.

    Returns:
        ``Dataset(x, y)``: ``x`` (1797, 64) of ``dtype``, grey levels scaled to [0, 1] (or {0, 1}, or {-1, +1});
        ``y`` (1797,) int32 digit labels 0..9.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "jaxphys.learning.data.digits needs scikit-learn, which ships the data set offline: "
            'pip install "jaxphys[data]" (or pip install scikit-learn)'
        ) from err
    raw = load_digits()
    grey = np.asarray(raw.data, np.float64)
    if spins:
        x = np.where(grey >= 8.0, 1.0, -1.0)
    elif binarize:
        x = (grey >= 8.0).astype(np.float64)
    else:
        x = grey / 16.0
    labels: Int[Array, " p"] = jnp.asarray(raw.target, jnp.int32)
    inputs: Float[Array, "p 64"] = jnp.asarray(x, dtype)
    return Dataset(inputs, labels)


# --------------------------------------------------------------------------- teacher-student generators

_WEIGHTS = ("gaussian", "binary", "spherical")
_ACTIVATIONS = {
    "erf": lambda h: jax.scipy.special.erf(h / math.sqrt(2.0)),
    "relu": lambda h: jnp.maximum(h, 0.0),
    "tanh": jnp.tanh,
    "linear": lambda h: h,
}


def _check_key(key) -> None:
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(
            f"key must be a typed PRNG key made with jax.random.key(seed), got {type(key).__name__} of dtype "
            f"{getattr(key, 'dtype', None)}; convert a legacy uint32 key with jax.random.wrap_key_data(key)"
        )
    if key.shape != ():
        raise ValueError(f"key must be one key (shape ()), got shape {key.shape}; vmap over split keys instead")


def _float_dtype(dtype):
    dtype = float_dtype() if dtype is None else jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    return dtype


def _check_teacher(teacher, shape: tuple[int, ...], weights: str, dtype) -> Array | None:
    """A given teacher as an array of ``shape`` and ``dtype``; ``None`` (draw one) after checking ``weights``."""
    if teacher is None:
        if weights not in _WEIGHTS:
            raise ValueError(f"weights must be one of {_WEIGHTS}, got {weights!r}")
        return None
    teacher = jnp.asarray(teacher)
    if teacher.shape != shape:
        raise ValueError(f"teacher must have shape {shape}, got {teacher.shape}")
    if not (jnp.issubdtype(teacher.dtype, jnp.floating) or jnp.issubdtype(teacher.dtype, jnp.integer)):
        raise TypeError(f"teacher must be real, got dtype {teacher.dtype}")
    if is_concrete(teacher) and not np.all(np.isfinite(np.asarray(teacher))):
        raise ValueError("teacher contains NaN or infinity")
    return teacher.astype(dtype)


def _teacher(key, shape: tuple[int, ...], weights: str, teacher, dtype) -> Array:
    """The given teacher, or rows of i.i.d. ``N(0, 1)`` ("gaussian"), ``+-1`` ("binary") or ``N(0, 1)``
    rescaled to ``|w|^2 = N`` ("spherical": uniform on the sphere of radius ``sqrt N``)."""
    if teacher is not None:
        return teacher
    if weights == "binary":
        return jax.random.rademacher(key, shape, dtype)
    w = jax.random.normal(key, shape, dtype)
    if weights == "spherical":
        w = w * (math.sqrt(shape[-1]) / jnp.linalg.norm(w, axis=-1, keepdims=True))
    return w


def _normal_matrix(key, p: int, n: int, dtype) -> Array:
    """(P, N) standard normals, drawn flat: the same numbers as ``jax.random.normal(key, (p, n))``
    (threefry counters run over the flattened index), but XLA CPU compiles the draw several times
    faster for a small trailing dimension (N ~ 10; seconds for a vmapped batch, measured with jax 0.10)."""
    return jax.random.normal(key, (p * n,), dtype).reshape(p, n)


def _flip(key, labels: Array, label_noise: Array) -> Array:
    return jnp.where(jax.random.bernoulli(key, label_noise, labels.shape), -labels, labels)


def _sign(field: Array) -> Array:
    """``+1`` where ``field >= 0``, else ``-1`` (a zero field, of probability 0, counts as ``+1``)."""
    return jnp.where(field >= 0, 1.0, -1.0).astype(field.dtype)


def teacher_perceptron(
    key: PRNGKey,
    num_samples: int,
    dim: int,
    *,
    weights: str = "gaussian",
    label_noise=0.0,
    teacher: Array | None = None,
    dtype=None,
) -> tuple[Dataset, Float[Array, " n"]]:
    """Teacher-student perceptron data: ``y = sign(w* . x / sqrt N)``, each label flipped with probability ``label_noise``.

    Inputs ``x ~ N(0, I_N)``; teacher ``w*`` with i.i.d. ``N(0, 1)`` (``weights="gaussian"``) or uniform
    ``+-1`` (``"binary"``) entries, so ``|w*|^2 ~ N`` and the field ``w* . x / sqrt N`` is O(1), or
    uniform on the sphere ``|w*|^2 = N`` (``"spherical"``, the teacher of the replica theory in
    :mod:`jaxphys.theory.teacher_student`). With ``label_noise = 0`` a student with normalised teacher
    overlap ``R`` errs on a fresh input with probability ``arccos(R) / pi`` (Engel & Van den Broeck,
    *Statistical Mechanics of Learning*, ch. 2); label noise ``p`` adds ``p (1 - 2 arccos(R)/pi)``.
    ``label_noise = 1/2`` gives the storage problem: labels uniform on ``+-1`` and independent of the
    inputs (``y = s e`` with ``e = +-1`` a fair coin independent of ``s = sign(w* . x)``).

    Args:
        key: typed key (``jax.random.key``); the teacher, the inputs and the flips use independent
            streams split from it.
        num_samples: ``P >= 1``.
        dim: input dimension ``N >= 1``.
        weights: teacher prior, ``"gaussian"``, ``"binary"`` or ``"spherical"`` (ignored when ``teacher`` is given).
        label_noise: flip probability in [0, 1] (may be traced, e.g. vmapped over); 1/2 for random labels.
        teacher: an existing teacher (N,), e.g. to draw a test set labelled by the training set's
            teacher (use a different ``key`` for it).
        dtype: floating dtype of ``x``, ``y`` and the teacher (default float32, float64 under x64).

    Returns:
        ``(Dataset(x, y), teacher)``: ``x`` (P, N), ``y`` (P,) with values +-1, ``teacher`` (N,).

    Raises:
        TypeError/ValueError: untyped key, sizes < 1, unknown ``weights``, ``label_noise`` outside
        [0, 1], a teacher of the wrong shape.
    """
    _check_key(key)
    p, n = as_count(num_samples, "num_samples"), as_count(dim, "dim")
    dtype = _float_dtype(dtype)
    noise = real_scalar(label_noise, "label_noise", low=0.0, high=1.0, dtype=dtype)
    return _teacher_perceptron(key, noise, _check_teacher(teacher, (n,), weights, dtype), p, n, weights, dtype)


@eqx.filter_jit
def _teacher_perceptron(key, noise, teacher, p, n, weights, dtype):
    key_teacher, key_x, key_flip = jax.random.split(key, 3)
    w = _teacher(key_teacher, (n,), weights, teacher, dtype)
    x = _normal_matrix(key_x, p, n, dtype)
    y = _flip(key_flip, _sign(x @ w / math.sqrt(n)), noise)
    return Dataset(x, y), w


def teacher_linear(
    key: PRNGKey,
    num_samples: int,
    dim: int,
    *,
    noise_std=0.0,
    weights: str = "gaussian",
    teacher: Array | None = None,
    dtype=None,
) -> tuple[Dataset, Float[Array, " n"]]:
    """Linear teacher (noisy regression): ``y = w* . x / sqrt N + noise_std * xi``, ``xi ~ N(0, 1)``.

    Inputs ``x ~ N(0, I_N)``, teacher as in :func:`teacher_perceptron`. A student ``w`` predicting
    ``w . x / sqrt N`` has test error ``E (y - w.x/sqrt N)^2 = |w - w*|^2 / N + noise_std^2``.

    Args:
        key: typed key.
        num_samples: ``P >= 1``.
        dim: ``N >= 1``.
        noise_std: output noise standard deviation ``>= 0`` (may be traced).
        weights: teacher prior, ``"gaussian"``, ``"binary"`` or ``"spherical"`` (ignored when ``teacher`` is given).
        teacher: an existing teacher (N,).
        dtype: floating dtype.

    Returns:
        ``(Dataset(x, y), teacher)``: ``x`` (P, N), ``y`` (P,), ``teacher`` (N,).

    Raises:
        TypeError/ValueError: as :func:`teacher_perceptron`; ``noise_std < 0``.
    """
    _check_key(key)
    p, n = as_count(num_samples, "num_samples"), as_count(dim, "dim")
    dtype = _float_dtype(dtype)
    std = real_scalar(noise_std, "noise_std", low=0.0, high_open=True, dtype=dtype)
    return _teacher_linear(key, std, _check_teacher(teacher, (n,), weights, dtype), p, n, weights, dtype)


@eqx.filter_jit
def _teacher_linear(key, std, teacher, p, n, weights, dtype):
    key_teacher, key_x, key_noise = jax.random.split(key, 3)
    w = _teacher(key_teacher, (n,), weights, teacher, dtype)
    x = _normal_matrix(key_x, p, n, dtype)
    y = x @ w / math.sqrt(n) + std * jax.random.normal(key_noise, (p,), dtype)
    return Dataset(x, y), w


def teacher_committee(
    key: PRNGKey,
    num_samples: int,
    dim: int,
    num_hidden: int,
    *,
    activation: str | Callable[[Array], Array] = "erf",
    noise_std=0.0,
    label_noise=0.0,
    weights: str = "gaussian",
    teacher: Array | None = None,
    dtype=None,
) -> tuple[Dataset, Float[Array, "k n"]]:
    """Committee-machine teacher with ``K`` hidden units ``h_k = w*_k . x / sqrt N``.

    * Soft committee machine (Saad & Solla, PRE 52, 4225, 1995; Goldt et al., NeurIPS 2019):
      ``y = sum_k g(h_k) + noise_std * xi`` with ``g`` = ``"erf"`` (``erf(h / sqrt 2)``, the default),
      ``"relu"``, ``"tanh"``, ``"linear"`` or any elementwise callable. For ``"erf"`` and Gaussian
      inputs, ``E g(h_k) g(h_l) = (2/pi) arcsin(Q_kl / sqrt((1 + Q_kk)(1 + Q_ll)))`` with
      ``Q = W* W*^T / N``.
    * Hard committee machine (``activation="sign"``; Schwarze & Hertz 1992, Aubin et al. 2018):
      majority vote ``y = sign(sum_k sign(h_k))`` (K odd), each label flipped with probability
      ``label_noise``.

    Args:
        key: typed key.
        num_samples: ``P >= 1``.
        dim: ``N >= 1``.
        num_hidden: ``K >= 1`` (odd for ``"sign"``).
        activation: see above.
        noise_std: Gaussian output noise (soft machines only; may be traced).
        label_noise: flip probability (``"sign"`` only; may be traced).
        weights: teacher prior, ``"gaussian"``, ``"binary"`` or ``"spherical"`` (each row normalised; ignored
            when ``teacher`` is given).
        teacher: an existing teacher (K, N).
        dtype: floating dtype.

    Returns:
        ``(Dataset(x, y), teacher)``: ``x`` (P, N), ``y`` (P,), ``teacher`` (K, N).

    Raises:
        TypeError/ValueError: as :func:`teacher_perceptron`; unknown activation; even ``K`` with
        ``"sign"``; a noise that does not apply to the activation set to a non-zero value.
    """
    _check_key(key)
    p, n, k = as_count(num_samples, "num_samples"), as_count(dim, "dim"), as_count(num_hidden, "num_hidden")
    dtype = _float_dtype(dtype)
    hard = isinstance(activation, str) and activation == "sign"
    if isinstance(activation, str) and not hard and activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {(*_ACTIVATIONS, 'sign')} or a callable, got {activation!r}")
    if not isinstance(activation, str) and not callable(activation):
        raise TypeError(f"activation must be a name or a callable, got {type(activation).__name__}")
    if hard and k % 2 == 0:
        raise ValueError(f"a hard committee machine (activation='sign') needs an odd num_hidden to break ties, got {k}")
    std = real_scalar(noise_std, "noise_std", low=0.0, high_open=True, dtype=dtype)
    flip = real_scalar(label_noise, "label_noise", low=0.0, high=1.0, dtype=dtype)
    wrong, name = (std, "noise_std") if hard else (flip, "label_noise")
    if is_concrete(wrong) and float(wrong) != 0.0:
        use = "label_noise (a flip probability)" if hard else "noise_std (Gaussian output noise)"
        raise ValueError(f"{name} does not apply to activation={activation!r}; use {use}")
    teacher = _check_teacher(teacher, (k, n), weights, dtype)
    return _teacher_committee(key, std, flip, teacher, p, n, k, activation, weights, dtype)


@eqx.filter_jit
def _teacher_committee(key, std, flip, teacher, p, n, k, activation, weights, dtype):
    hard = isinstance(activation, str) and activation == "sign"
    key_teacher, key_x, key_noise = jax.random.split(key, 3)
    w = _teacher(key_teacher, (k, n), weights, teacher, dtype)
    x = _normal_matrix(key_x, p, n, dtype)
    fields = x @ w.T / math.sqrt(n)  # (P, K)
    if hard:
        y = _flip(key_noise, _sign(jnp.sum(_sign(fields), axis=-1)), flip)
    else:
        g = _ACTIVATIONS[activation] if isinstance(activation, str) else activation
        y = jnp.sum(g(fields), axis=-1) + std * jax.random.normal(key_noise, (p,), dtype)
    return Dataset(x, y.astype(dtype)), w


def gaussian_mixture(
    key: PRNGKey,
    num_samples: int,
    dim: int,
    *,
    means: Array | None = None,
    num_clusters: int | None = None,
    snr=1.0,
    noise_std=1.0,
    probabilities: Array | None = None,
    dtype=None,
) -> tuple[Dataset, Float[Array, "k n"]]:
    """Gaussian mixture: label ``c`` with probability ``probabilities[c]``, input ``x = mu_c + noise_std * z``.

    ``z ~ N(0, I_N)``. Without ``means``, ``num_clusters`` (default 2) means of squared norm
    ``|mu_c|^2 = snr * noise_std^2`` are drawn: for two clusters the symmetric pair ``mu_0 = -mu``,
    ``mu_1 = +mu`` (the binary mixture of Mignacco, Krzakala, Lu, Urbani & Zdeborova, ICML 2020,
    with ``y = 2c - 1 = +-1`` the usual label), otherwise independent uniformly random directions.
    For the symmetric pair with equal probabilities the Bayes-optimal classifier ``sign(mu . x)``
    errs with probability ``H(sqrt(snr))``, ``H(t) = erfc(t / sqrt 2) / 2``.

    Args:
        key: typed key.
        num_samples: ``P >= 1``.
        dim: ``N >= 1``.
        means: cluster means (K, N); then ``snr`` is not used.
        num_clusters: ``K >= 2`` when ``means`` is not given (default 2).
        snr: ``|mu_c|^2 / noise_std^2 >= 0`` for drawn means (may be traced).
        noise_std: within-cluster standard deviation ``>= 0`` (may be traced).
        probabilities: cluster probabilities (K,), non-negative, summing to 1 (default uniform).
        dtype: floating dtype of ``x`` and the means.

    Returns:
        ``(Dataset(x, y), means)``: ``x`` (P, N); ``y`` (P,) int32 cluster index in 0..K-1; ``means`` (K, N).

    Raises:
        TypeError/ValueError: bad sizes, ``means`` not (K, N) or not finite, ``num_clusters`` not
        matching ``means``, negative ``snr``/``noise_std``, bad ``probabilities``.
    """
    _check_key(key)
    p, n = as_count(num_samples, "num_samples"), as_count(dim, "dim")
    dtype = _float_dtype(dtype)
    std = real_scalar(noise_std, "noise_std", low=0.0, high_open=True, dtype=dtype)
    if means is not None:
        means = jnp.asarray(means)
        if means.ndim != 2 or means.shape[1] != n:
            raise ValueError(f"means must have shape (num_clusters, dim) = (K, {n}), got {means.shape}")
        if num_clusters is not None and as_count(num_clusters, "num_clusters") != means.shape[0]:
            raise ValueError(f"num_clusters = {num_clusters} but means has {means.shape[0]} rows; give one of them")
        if is_concrete(means) and not np.all(np.isfinite(np.asarray(means))):
            raise ValueError("means contains NaN or infinity")
        k = means.shape[0]
        means = means.astype(dtype)
        snr = None
    else:
        k = 2 if num_clusters is None else as_count(num_clusters, "num_clusters", minimum=2)
        snr = real_scalar(snr, "snr", low=0.0, high_open=True, dtype=dtype)
    if probabilities is None:
        logits = jnp.zeros((k,), dtype)
    else:
        probs = jnp.asarray(probabilities)
        if probs.shape != (k,):
            raise ValueError(f"probabilities must have shape ({k},) (one per cluster), got {probs.shape}")
        if is_concrete(probs):
            values = np.asarray(probs, np.float64)
            if not (np.all(values >= 0) and abs(values.sum() - 1.0) < 1e-6):
                raise ValueError(f"probabilities must be non-negative and sum to 1, got {values}")
        logits = jnp.log(probs.astype(dtype))
    return _gaussian_mixture(key, means, snr, std, logits, p, n, k, dtype)


@eqx.filter_jit
def _gaussian_mixture(key, means, snr, std, logits, p, n, k, dtype):
    key_means, key_labels, key_z = jax.random.split(key, 3)
    if means is None:
        if k == 2:
            direction = jax.random.normal(key_means, (n,), dtype)
            directions = jnp.stack([-direction, direction])
        else:
            directions = jax.random.normal(key_means, (k, n), dtype)
        means = jnp.sqrt(snr) * std * directions / jnp.linalg.norm(directions, axis=-1, keepdims=True)
    y = jax.random.categorical(key_labels, logits, shape=(p,)).astype(jnp.int32)
    x = means[y] + std * _normal_matrix(key_z, p, n, dtype)
    return Dataset(x, y), means
