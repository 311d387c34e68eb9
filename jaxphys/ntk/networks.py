"""Fully connected networks in the NTK or the standard parameterisation (Jacot et al. 2018).

Layer ``l = 1 .. depth + 1`` maps ``h^{l-1}`` (``h^0 = x``, width ``n_{l-1}``) to the pre-activation

    z^l = sqrt(sigma_w2 / n_{l-1}) W^l h^{l-1} + sqrt(sigma_b2) b^l,      h^l = phi(z^l),

with ``W^l, b^l ~ N(0, 1)`` in the NTK parameterisation (``parameterization="ntk"``); in the standard
one the same scales sit in the initial values instead (``W ~ N(0, sigma_w2 / n)``, ``b ~ N(0, sigma_b2)``,
``z = W h + b``). Both give the same function at initialisation, hence the same NNGP kernel; their
gradients, hence their tangent kernels and training dynamics, differ. The last layer is linear
(``f = z^{depth + 1}``). As every width grows, ``f`` becomes a Gaussian process with the NNGP kernel
and, in the NTK parameterisation, its tangent kernel converges to the analytic NTK
(:mod:`jaxphys.ntk.analytic`).
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ..theory.signal_propagation import Activation, activation_function

__all__ = ["MLP"]


class MLP(eqx.Module):
    """Multilayer perceptron applied to ONE input ``x`` of shape ``(in_size,)``.

    Attributes:
        weights: list of ``(n_l, n_{l-1})`` arrays, one per layer (``depth + 1`` of them).
        biases: list of ``(n_l,)`` arrays.
        activation: name (``"relu"``, ``"erf"``, ``"tanh"``, ``"linear"``) or elementwise callable.
        sigma_w2, sigma_b2: weight and bias variances (static floats).
        parameterization: ``"ntk"`` or ``"standard"`` (static).
    """

    weights: list[Float[Array, "out in"]]
    biases: list[Float[Array, " out"]]
    activation: Activation = eqx.field(static=True)
    sigma_w2: float = eqx.field(static=True)
    sigma_b2: float = eqx.field(static=True)
    parameterization: str = eqx.field(static=True)
    _scalar: bool = eqx.field(static=True)  # out_size=None: f(x) has shape ()

    def __init__(
        self,
        key: PRNGKeyArray,
        in_size: int,
        width: int | Sequence[int],
        out_size: int | None = None,
        *,
        depth: int | None = None,
        activation: Activation = "relu",
        sigma_w2: float = 2.0,
        sigma_b2: float = 0.0,
        parameterization: str = "ntk",
        dtype=None,
    ):
        """Random initialisation.

        Args:
            key: typed key (``jax.random.key``).
            in_size: input dimension ``n_0``.
            width: hidden width (with ``depth``) or the list of hidden widths.
            out_size: number of outputs; ``None`` gives a scalar output (``f(x)`` of shape ``()``).
            depth: number of hidden layers when ``width`` is an int.
            activation, sigma_w2, sigma_b2, parameterization: see the class docstring.
            dtype: float dtype of the parameters (default: jax's default float).

        Raises:
            ValueError: sizes < 1, negative variances, unknown parameterization or activation.
        """
        if isinstance(width, int):
            if depth is None:
                raise ValueError("give depth (number of hidden layers) with an integer width, or a list of widths")
            widths = [width] * depth
        else:
            if depth is not None and depth != len(width):
                raise ValueError(f"depth = {depth} but {len(width)} widths were given")
            widths = list(width)
        sizes = [in_size, *widths, 1 if out_size is None else out_size]
        if any(not isinstance(n, int) or n < 1 for n in sizes):
            raise ValueError(f"in_size, widths and out_size must be integers >= 1, got {sizes}")
        if not (sigma_w2 >= 0 and sigma_b2 >= 0):
            raise ValueError(f"sigma_w2 and sigma_b2 are variances >= 0, got {sigma_w2}, {sigma_b2}")
        if parameterization not in ("ntk", "standard"):
            raise ValueError(f"parameterization must be 'ntk' or 'standard', got {parameterization!r}")
        activation_function(activation)  # validates the name
        dtype = jnp.zeros(()).dtype if dtype is None else dtype
        self.activation, self.parameterization = activation, parameterization
        self.sigma_w2, self.sigma_b2 = float(sigma_w2), float(sigma_b2)
        self._scalar = out_size is None
        self.weights, self.biases = [], []
        for key_l, n_in, n_out in zip(jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:]):
            key_w, key_b = jax.random.split(key_l)
            w = jax.random.normal(key_w, (n_out, n_in), dtype)
            b = jax.random.normal(key_b, (n_out,), dtype)
            if parameterization == "standard":
                w, b = w * jnp.sqrt(self.sigma_w2 / n_in), b * jnp.sqrt(self.sigma_b2)
            self.weights.append(w)
            self.biases.append(b)

    def layer_scales(self) -> list[tuple[float, float]]:
        """``(weight, bias)`` multipliers of each layer in the forward pass (1 in the standard parameterisation)."""
        if self.parameterization == "standard":
            return [(1.0, 1.0)] * len(self.weights)
        return [((self.sigma_w2 / w.shape[1]) ** 0.5, self.sigma_b2**0.5) for w in self.weights]

    def preactivations(self, x: Float[Array, " in_size"]) -> list[Float[Array, " n_l"]]:
        """The pre-activations ``z^1 .. z^{depth+1}`` for one input (the last is the output vector)."""
        if x.ndim != 1 or x.shape[0] != self.weights[0].shape[1]:
            raise ValueError(f"MLP takes ONE input of shape ({self.weights[0].shape[1]},), got {x.shape}; vmap over a batch")
        phi = activation_function(self.activation)
        h, out = x, []
        for l, ((w, b), (sw, sb)) in enumerate(zip(zip(self.weights, self.biases), self.layer_scales())):
            z = sw * (w @ h) + sb * b
            out.append(z)
            if l + 1 < len(self.weights):
                h = phi(z)
        return out

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, "..."]:
        """``f(x)``: shape ``()`` for a scalar network (``out_size=None``), else ``(out_size,)``."""
        z = self.preactivations(x)[-1]
        return z[0] if self._scalar else z
