"""Spectra of kernel matrices and the collective variables built on them, tracked during training.

For a symmetric PSD kernel matrix ``K`` (``n x n``, e.g. the empirical NTK of a network on a fixed
set of inputs) with eigenvalues ``lambda_1 >= ... >= lambda_n >= 0``:

* ``trace`` ``sum_k lambda_k`` (the overall scale: the NTK trace sets the stable learning rate);
* spectral entropy ``S = -sum_k p_k log p_k``, ``p_k = lambda_k / sum_j lambda_j`` (Tovey et al. 2024,
  arXiv:2410.07451, "collective variables" of the NTK); ``0 <= S <= log n``, ``S = log n`` for
  ``K`` proportional to the identity, ``S = 0`` for rank one. ``normalize=True`` divides by ``log n``;
* effective rank: the participation ratio ``(sum lambda)^2 / sum lambda^2`` (default), or
  ``exp(S)`` (``kind="entropy"``, Roy & Vetterli 2007); both lie in ``[1, n]`` and equal ``n`` for
  the identity and 1 for rank one;
* kernel-target alignment ``A(K, Y) = <K, Y Y^T>_F / (|K|_F |Y Y^T|_F)`` (Cristianini et al. 2002),
  which is ``y^T K y / (|K|_F |y|^2)`` for one output; 1 when ``K`` is proportional to ``Y Y^T``.

Eigenvalues come from ``eigh`` of the symmetrised matrix; rounding makes the smallest eigenvalues of
a PSD kernel slightly negative, so ``p_k`` uses ``max(lambda_k, 0)`` (a genuinely indefinite matrix
is the caller's problem: its entropy is then that of the positive part).

:func:`tracker` turns these into an ``eval_fn`` for :func:`jaxphys.learning.train.fit`, logging the
collective variables of the model's kernel on fixed inputs at every logged step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..theory.signal_propagation import concrete_value

__all__ = [
    "eigenvalues",
    "trace",
    "spectral_entropy",
    "effective_rank",
    "alignment",
    "collective_variables",
    "tracker",
]


def _kernel(matrix, name: str = "K") -> Array:
    arr = jnp.asarray(matrix)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) kernel matrix, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    concrete = concrete_value(arr)
    if concrete is not None and not np.all(np.isfinite(concrete)):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


@jax.jit
def _eigenvalues(matrix: Array) -> Array:
    return jnp.linalg.eigvalsh(0.5 * (matrix + matrix.T))[::-1]


def eigenvalues(K: Float[Array, "n n"]) -> Float[Array, " n"]:
    """Eigenvalues of the symmetric matrix ``K`` in descending order, shape ``(n,)``.

    Raises:
        ValueError: ``K`` not square, empty or (when concrete) not finite.
    """
    return _eigenvalues(_kernel(K))


def trace(K: Float[Array, "n n"]) -> Float[Array, ""]:
    """``Tr K = sum_k lambda_k`` (float scalar). Raises like :func:`eigenvalues`."""
    return jnp.trace(_kernel(K))


def _probabilities(spectrum: Array) -> Array:
    positive = jnp.maximum(spectrum, 0.0)
    return positive / jnp.sum(positive)


@jax.jit
def _entropy(spectrum: Array) -> Array:
    p = _probabilities(spectrum)
    return -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))


def spectral_entropy(K: Float[Array, "n n"], *, normalize: bool = False) -> Float[Array, ""]:
    """``S = -sum_k p_k log p_k`` with ``p_k = max(lambda_k, 0) / sum_j max(lambda_j, 0)`` (``0 log 0 = 0``).

    Tovey et al. 2024 (arXiv:2410.07451). ``normalize=True`` returns ``S / log n`` in ``[0, 1]``
    (``n = 1``: 0). NaN for a kernel with no positive eigenvalue. Raises like :func:`eigenvalues`.
    """
    K = _kernel(K)
    entropy = _entropy(_eigenvalues(K))
    n = K.shape[0]
    if normalize:
        return entropy / np.log(n) if n > 1 else jnp.zeros_like(entropy)
    return entropy


@jax.jit
def _participation(spectrum: Array) -> Array:
    positive = jnp.maximum(spectrum, 0.0)
    return jnp.sum(positive) ** 2 / jnp.sum(positive**2)


def effective_rank(K: Float[Array, "n n"], *, kind: str = "participation") -> Float[Array, ""]:
    """Effective rank of ``K``: participation ratio ``(sum lambda)^2 / sum lambda^2`` or ``exp(S)``.

    Args:
        K: ``(n, n)`` symmetric PSD matrix.
        kind: ``"participation"`` (default) or ``"entropy"`` (``exp`` of :func:`spectral_entropy`,
            Roy & Vetterli 2007). Both are 1 for rank one and ``n`` for a multiple of the identity.

    Raises:
        ValueError: unknown ``kind``, or as :func:`eigenvalues`.
    """
    if kind not in ("participation", "entropy"):
        raise ValueError(f"kind must be 'participation' or 'entropy', got {kind!r}")
    spectrum = _eigenvalues(_kernel(K))
    return _participation(spectrum) if kind == "participation" else jnp.exp(_entropy(spectrum))


def _targets(y, n: int) -> Array:
    y = jnp.asarray(y)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) or ({n}, num_outputs), matching the kernel, got {y.shape}")
    if not jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(jnp.result_type(float))
    concrete = concrete_value(y)
    if concrete is not None and not np.all(np.isfinite(concrete)):
        raise ValueError("y contains NaN or infinity")
    return y.reshape(n, -1)


@jax.jit
def _alignment(K: Array, y: Array) -> Array:
    target = y @ y.T
    return jnp.sum(K * target) / (jnp.linalg.norm(K) * jnp.linalg.norm(target))


def alignment(K: Float[Array, "n n"], y: Float[Array, "n ..."]) -> Float[Array, ""]:
    """Kernel-target alignment ``<K, Y Y^T>_F / (|K|_F |Y Y^T|_F)`` (Cristianini et al. 2002), in ``[-1, 1]``.

    For one output (``y`` of shape ``(n,)``) this is ``y^T K y / (|K|_F |y|^2)``; for ``(n, C)`` the
    target kernel is ``Y Y^T`` (one-hot labels: 1 for pairs of the same class). NaN for ``K = 0`` or
    ``y = 0``.

    Raises:
        ValueError: ``y`` not ``(n,)``/``(n, C)``, or as :func:`eigenvalues`.
    """
    K = _kernel(K)
    return _alignment(K, _targets(y, K.shape[0]))


def collective_variables(K: Float[Array, "n n"], y: Float[Array, "n ..."] | None = None) -> dict[str, Array]:
    """The collective variables of ``K`` from one eigendecomposition (jit-able).

    Returns:
        dict of float scalars: ``"trace"``, ``"largest_eigenvalue"``, ``"spectral_entropy"``,
        ``"normalized_entropy"`` (``S / log n``), ``"effective_rank"`` (participation ratio) and,
        with ``y``, ``"alignment"``.

    Raises:
        ValueError: as :func:`eigenvalues` and :func:`alignment`.
    """
    K = _kernel(K)
    n = K.shape[0]
    spectrum = _eigenvalues(K)
    entropy = _entropy(spectrum)
    out = {
        "trace": jnp.trace(K),
        "largest_eigenvalue": spectrum[0],
        "spectral_entropy": entropy,
        "normalized_entropy": entropy / np.log(n) if n > 1 else jnp.zeros_like(entropy),
        "effective_rank": _participation(spectrum),
    }
    if y is not None:
        out["alignment"] = _alignment(K, _targets(y, n))
    return out


def tracker(
    x: Float[Array, "n ..."],
    y: Float[Array, "n ..."] | None = None,
    *,
    kernel_fn: Callable[[Any, Array], Array] | None = None,
    implementation: str = "auto",
) -> Callable[[Any], dict[str, Array]]:
    """An ``eval_fn`` for :func:`jaxphys.learning.train.fit`: the collective variables of the model's kernel on ``x``.

    Example::

        track = spectra.tracker(x_probe, y_probe)
        result = fit(key, model, loss, data, optax.sgd(0.1), num_steps=1000, eval_fn=track)
        result.history["spectral_entropy"]      # (num_logs,)

    Args:
        x: ``(n, *feature_shape)`` fixed probe inputs (often the training inputs).
        y: optional ``(n,)`` or ``(n, C)`` targets for the alignment.
        kernel_fn: ``kernel_fn(model, x) -> (n, n)`` kernel; default the empirical NTK
            :func:`jaxphys.ntk.empirical.empirical_ntk` (``trace_outputs=True``: for several outputs,
            the mean over outputs of ``Theta_oo``).
        implementation: passed to ``empirical_ntk`` when ``kernel_fn`` is ``None``.

    Returns:
        ``eval_fn(model) -> dict`` (see :func:`collective_variables`), pure and jit-able. Define it
        once and reuse it: ``fit`` compiles per ``eval_fn`` object.

    Raises:
        ValueError/TypeError: ``x`` without a batch axis or empty, ``y`` not matching ``x``, a
        ``kernel_fn`` that is not callable.
    """
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch (n, *feature_shape), got shape {x.shape}")
    n = x.shape[0]
    if y is not None:
        y = _targets(y, n)
    if kernel_fn is None:
        from .empirical import empirical_ntk  # lazy: the empirical module is heavier and optional here

        def kernel_fn(model, inputs):
            return empirical_ntk(model, inputs, implementation=implementation, trace_outputs=True)

    elif not callable(kernel_fn):
        raise TypeError(f"kernel_fn must be a function (model, x) -> (n, n) kernel, got {type(kernel_fn).__name__}")

    def eval_fn(model) -> dict[str, Array]:
        K = kernel_fn(model, x)
        if K.shape != (n, n):
            raise ValueError(f"kernel_fn(model, x) must return an ({n}, {n}) matrix, got shape {K.shape}")
        return collective_variables(K, y)

    return eval_fn
