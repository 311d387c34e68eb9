"""Datasets for learning experiments: teacher-student generators and real data shipped by a package.

No function here downloads anything at run time.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

__all__ = ["Dataset", "digits"]


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
