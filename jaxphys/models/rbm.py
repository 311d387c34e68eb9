"""Restricted Boltzmann machines: +-1 visible units coupled to binary or Gaussian hidden units.

Joint energy of visible spins ``v in {-1,+1}^Nv`` and hidden units ``h`` (Nh,):

    E(v, h) = -v.W.h - a.v - b.h                      hidden = "binary"   (h in {-1,+1}^Nh)
    E(v, h) = -v.W.h - a.v - b.h + |h|^2 / 2          hidden = "gaussian" (h real)

with weights ``W`` (Nv, Nh), visible bias ``a`` (Nv,), hidden bias ``b`` (Nh,); the joint law at
inverse temperature ``beta`` is ``p(v, h) ~ exp(-beta E(v, h))`` (Hartnett, Parker, Geist,
arXiv:1803.06442, bipartite SK; Barra et al. for the Gaussian/Hopfield duality). The hidden layer
is summed (binary) or integrated (Gaussian: at ``beta`` the prior ``exp(-beta h^2/2)`` is N(0, 1/beta),
N(0, 1) at ``beta = 1``) out exactly. With ``x(v) = b + W^T v``:

    sum_h   exp(-beta E) = exp(beta a.v) prod_j 2 cosh(beta x_j)
    int dh  exp(-beta E) = exp(beta a.v + beta |x|^2 / 2) (2 pi / beta)^(Nh/2)

so the marginal of the visible layer is ``p(v) ~ exp(-beta F_beta(v))`` with the free energy

    F_beta(v) = -a.v - (1/beta) sum_j log 2 cosh(beta x_j)                 (binary)
    F_beta(v) = -a.v - |x|^2 / 2 - Nh/(2 beta) log(2 pi / beta)           (gaussian).

At ``beta = 1`` these are the textbook ``F(v)``. CAREFUL: for binary hidden units ``F_beta`` depends
on ``beta`` beyond a constant, so the marginal at ``beta`` is *not* ``exp(-beta F_1)``;
:meth:`RBM.visible_model` therefore takes the ``beta`` at which it is valid. For Gaussian hidden
units only the constant depends on ``beta`` and, expanding ``|x|^2`` with ``v_i^2 = 1``,

    F_beta(v) = -1/2 v.J.v - (a + W b).v + E_0(beta),    J = W W^T - diag(W W^T),
    E_0(beta) = -1/2 tr(W W^T) - 1/2 |b|^2 - Nh/(2 beta) log(2 pi / beta),

i.e. a Hopfield model (``W = xi^T / sqrt(N)`` for patterns ``xi`` (P, N) gives Hebb's rule
``J = xi^T xi / N``) at the same ``beta``: :meth:`RBM.to_pairwise`.

For binary hidden units an :class:`RBM` is also a :class:`~jaxphys.models.base.SpinModel` over the
joint configuration ``s = concat(v, h)`` (Nv + Nh,) int8, visible units first, so every generic
sampler (``mc.metropolis``, ``mc.heatbath``) and exact enumeration work on it; the bipartite fast
path is :func:`jaxphys.mc.block_gibbs`.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..typing import Spins
from .base import SpinModel, as_parameter, float_dtype, is_concrete
from .pairwise import PairwiseIsing

HIDDEN_TYPES = ("binary", "gaussian")


def _log_2cosh(y: Array) -> Array:
    """``log(2 cosh y) = log(e^y + e^-y)``, stable for large ``|y|`` (no overflow of cosh)."""
    return jnp.logaddexp(y, -y)


def _check_beta(beta) -> Float[Array, ""]:
    b = jnp.asarray(beta, float_dtype())
    if b.ndim != 0:
        raise ValueError(f"beta must be a scalar, got shape {b.shape}; vmap over betas instead")
    if is_concrete(b):
        value = float(np.asarray(b))
        if not (np.isfinite(value) and value > 0):
            raise ValueError(
                f"beta must be finite and > 0 for the marginal of the hidden layer (F_beta has 1/beta), got {beta!r}"
            )
    return b


class RBM(SpinModel):
    """Restricted Boltzmann machine with +-1 visible units and binary or Gaussian hidden units.

    Args:
        weights: ``W``, float (Nv, Nh).
        visible_bias: ``a``, scalar or (Nv,); default 0.
        hidden_bias: ``b``, scalar or (Nh,); default 0.
        hidden: ``"binary"`` (h = +-1) or ``"gaussian"`` (real h with the ``h^2/2`` term).

    Energy, free energy, conditionals and the Hopfield mapping: see the module docstring.
    ``weights`` and biases are array leaves (vmappable, differentiable); ``hidden`` is static.
    For ``hidden="binary"`` the model is a spin model over ``concat(v, h)``, shape (Nv + Nh,);
    for ``"gaussian"`` the joint state is not a spin configuration and the ``SpinModel``
    methods raise ``TypeError`` (use :meth:`joint_energy`, :meth:`visible_model`,
    :meth:`to_pairwise` or ``mc.block_gibbs``).

    Raises:
        ValueError: ``weights`` not 2-D, a bias that does not broadcast to its layer, NaN or
            inf parameters (when concrete), unknown ``hidden``.
        TypeError: non-real parameters.
    """

    weights: Float[Array, "nv nh"]
    visible_bias: Float[Array, " nv"]
    hidden_bias: Float[Array, " nh"]
    hidden: str = eqx.field(static=True)

    def __init__(self, weights, visible_bias=0.0, hidden_bias=0.0, *, hidden: str = "binary"):
        if hidden not in HIDDEN_TYPES:
            raise ValueError(f"hidden must be one of {HIDDEN_TYPES}, got {hidden!r}")
        self.hidden = hidden
        weights = as_parameter(weights, "weights")
        if weights.ndim != 2:
            raise ValueError(f"weights must be a (num_visible, num_hidden) matrix, got shape {weights.shape}")
        num_visible, num_hidden = weights.shape
        if num_visible < 1 or num_hidden < 1:
            raise ValueError(f"weights must have at least one visible and one hidden unit, got shape {weights.shape}")
        self.weights = weights
        self.visible_bias = jnp.broadcast_to(as_parameter(visible_bias, "visible_bias", (num_visible,)), (num_visible,))
        self.hidden_bias = jnp.broadcast_to(as_parameter(hidden_bias, "hidden_bias", (num_hidden,)), (num_hidden,))

    @classmethod
    def random(
        cls,
        num_visible: int,
        num_hidden: int,
        *,
        key,
        scale: float = 1.0,
        bias_scale: float = 0.0,
        hidden: str = "binary",
    ) -> "RBM":
        """RBM with i.i.d. Gaussian weights ``W_ij ~ N(0, scale^2 / Nv)`` and biases ``~ N(0, bias_scale^2)``.

        The ``1/sqrt(Nv)`` makes the hidden fields ``(W^T v)_j`` of order ``scale`` for any
        ``Nv`` (bipartite-SK scaling). ``key`` is a typed PRNG key; ``eqx.filter_vmap`` over
        split keys builds disorder replicas.

        Raises:
            ValueError: non-positive sizes, unknown ``hidden``.
        """
        if int(num_visible) < 1 or int(num_hidden) < 1:
            raise ValueError(f"num_visible and num_hidden must be >= 1, got {num_visible}, {num_hidden}")
        kw, ka, kb = jax.random.split(key, 3)
        dtype = float_dtype()
        weights = scale * jax.random.normal(kw, (num_visible, num_hidden), dtype) / math.sqrt(num_visible)
        visible_bias = bias_scale * jax.random.normal(ka, (num_visible,), dtype)
        hidden_bias = bias_scale * jax.random.normal(kb, (num_hidden,), dtype)
        return cls(weights, visible_bias, hidden_bias, hidden=hidden)

    # ---------------------------------------------------------------- sizes and layers

    @property
    def num_visible(self) -> int:
        """``Nv``."""
        return self.weights.shape[-2]

    @property
    def num_hidden(self) -> int:
        """``Nh``."""
        return self.weights.shape[-1]

    def _require_binary(self, what: str) -> None:
        if self.hidden != "binary":
            raise TypeError(
                f"{what} needs hidden='binary': with Gaussian hidden units the joint state is not a +-1 "
                "configuration; use joint_energy(v, h), visible_model(beta), to_pairwise() or mc.block_gibbs()"
            )

    def split(self, spins: Spins) -> tuple[Spins, Spins]:
        """``(v, h)`` = ``(spins[:Nv], spins[Nv:])`` of a joint configuration (Nv + Nh,)."""
        return spins[: self.num_visible], spins[self.num_visible :]

    def join(self, visible: Spins, hidden: Spins) -> Spins:
        """Joint configuration ``concat(v, h)`` (Nv + Nh,), in the dtype of the inputs."""
        return jnp.concatenate([visible, hidden])

    def hidden_field(self, visible) -> Float[Array, " nh"]:
        """``x = b + W^T v`` (Nh,): the field on the hidden units given the visible ones."""
        return self.hidden_bias + visible.astype(self.weights.dtype) @ self.weights

    def visible_field(self, hidden) -> Float[Array, " nv"]:
        """``a + W h`` (Nv,): the field on the visible units given the hidden ones."""
        return self.visible_bias + self.weights @ hidden.astype(self.weights.dtype)

    # ---------------------------------------------------------------- joint law

    def joint_energy(self, visible, hidden) -> Float[Array, ""]:
        """``E(v, h) = -v.W.h - a.v - b.h`` (+ ``|h|^2/2`` for Gaussian hidden), scalar.

        ``visible``: (Nv,) +-1 (any numeric dtype); ``hidden``: (Nh,) +-1 or real.

        Raises:
            ValueError: wrong shapes.
        """
        if tuple(visible.shape) != (self.num_visible,) or tuple(hidden.shape) != (self.num_hidden,):
            raise ValueError(
                f"expected visible ({self.num_visible},) and hidden ({self.num_hidden},), "
                f"got {tuple(visible.shape)} and {tuple(hidden.shape)}"
            )
        v = visible.astype(self.weights.dtype)
        h = hidden.astype(self.weights.dtype)
        energy = -v @ self.weights @ h - self.visible_bias @ v - self.hidden_bias @ h
        if self.hidden == "gaussian":
            energy = energy + 0.5 * h @ h
        return energy

    # ---------------------------------------------------------------- SpinModel face (binary)

    @property
    def spin_shape(self) -> tuple[int, ...]:
        """``(Nv + Nh,)`` for binary hidden units; ``TypeError`` for Gaussian ones."""
        self._require_binary("the joint spin representation (spin_shape)")
        return (self.num_visible + self.num_hidden,)

    def energy(self, spins: Spins) -> Float[Array, ""]:
        """``E(v, h)`` of a joint configuration ``spins = concat(v, h)`` (Nv + Nh,), binary hidden only."""
        self._require_binary("energy(spins)")
        return self.joint_energy(*self.split(spins))

    def local_field(self, spins: Spins) -> Float[Array, " n"]:
        """``concat(a + W h, b + W^T v)`` (Nv + Nh,): ``E`` is linear in each unit, ``dE_i = 2 s_i f_i``."""
        self._require_binary("local_field(spins)")
        v, h = self.split(spins)
        return jnp.concatenate([self.visible_field(h), self.hidden_field(v)])

    def site_field(self, spins: Spins, index: Int[Array, ""]) -> Float[Array, ""]:
        """Local field of one unit (flat ``index`` into ``concat(v, h)``) in O(Nv + Nh)."""
        self._require_binary("site_field(spins, index)")
        v, h = self.split(spins)
        nv, nh = self.num_visible, self.num_hidden
        i = jnp.clip(index, 0, nv - 1)
        j = jnp.clip(index - nv, 0, nh - 1)
        f_visible = self.weights[i] @ h.astype(self.weights.dtype) + self.visible_bias[i]
        f_hidden = v.astype(self.weights.dtype) @ self.weights[:, j] + self.hidden_bias[j]
        return jnp.where(index < nv, f_visible, f_hidden)

    # ---------------------------------------------------------------- marginal of the visible layer

    def free_energy(self, visible: Spins, beta=1.0) -> Float[Array, ""]:
        """``F_beta(v)``, the hidden layer summed/integrated out of ``exp(-beta E)`` (module docstring).

        ``sum_h exp(-beta E(v, h)) = exp(-beta F_beta(v))`` (binary; an integral for Gaussian).

        Args:
            visible: (Nv,) +-1 spins.
            beta: inverse temperature > 0 (default 1, the usual ``F(v)``).

        Raises:
            ValueError: wrong shape, concrete ``beta <= 0`` or non-finite.
        """
        beta = _check_beta(beta)
        if tuple(visible.shape) != (self.num_visible,):
            raise ValueError(f"visible must have shape ({self.num_visible},), got {tuple(visible.shape)}")
        v = visible.astype(self.weights.dtype)
        x = self.hidden_field(v)
        if self.hidden == "binary":
            return -self.visible_bias @ v - jnp.sum(_log_2cosh(beta * x)) / beta
        return -self.visible_bias @ v - 0.5 * x @ x - 0.5 * self.num_hidden / beta * jnp.log(2 * jnp.pi / beta)

    def visible_model(self, beta=1.0) -> "RBMVisible":
        """Spin model over ``v`` alone with energy ``F_beta(v)``: its Boltzmann law at ``beta``
        is the visible marginal of the joint law at ``beta``.

        For binary hidden units use it at that same ``beta`` only (at another ``beta'``,
        ``exp(-beta' F_beta)`` is not the marginal at ``beta'``); for Gaussian hidden units
        ``F_beta`` depends on ``beta`` only through a constant, so any ``beta'`` is right.

        Raises:
            ValueError: concrete ``beta <= 0`` or non-finite.
        """
        return RBMVisible(self, beta)

    def to_pairwise(self) -> PairwiseIsing:
        """Exact Hopfield model of the visible layer (Gaussian hidden units only).

        Returns ``PairwiseIsing(J = W W^T - diag(W W^T), h = a + W b)``, with
        ``F_beta(v) = pairwise.energy(v) + pairwise_offset(beta)`` for every ``v`` and ``beta > 0``,
        so the visible marginal at ``beta`` is the Boltzmann law of the pairwise model at the
        same ``beta`` (``J`` does not depend on ``beta``: integrating ``h`` against
        ``exp(-beta h^2/2)`` gives back ``exp(beta |x|^2 / 2)``).

        Raises:
            TypeError: binary hidden units (their marginal has all-order couplings).
        """
        if self.hidden != "gaussian":
            raise TypeError(
                "to_pairwise() needs hidden='gaussian'; a binary hidden layer gives log-cosh, not pairwise, couplings"
            )
        gram = self.weights @ self.weights.T
        gram = 0.5 * (gram + gram.T)  # exact symmetry, whatever order the matmul summed in
        coupling = jnp.where(jnp.eye(self.num_visible, dtype=bool), 0.0, gram)
        return PairwiseIsing(coupling, self.visible_bias + self.weights @ self.hidden_bias)

    def pairwise_offset(self, beta=1.0) -> Float[Array, ""]:
        """``E_0(beta) = -1/2 tr(W W^T) - 1/2 |b|^2 - Nh/(2 beta) log(2 pi / beta)``, scalar.

        The constant with ``F_beta(v) = to_pairwise().energy(v) + E_0(beta)`` (Gaussian hidden).

        Raises:
            TypeError: binary hidden units. ValueError: concrete ``beta <= 0``.
        """
        if self.hidden != "gaussian":
            raise TypeError("pairwise_offset() needs hidden='gaussian'")
        beta = _check_beta(beta)
        return (
            -0.5 * jnp.sum(self.weights**2)
            - 0.5 * self.hidden_bias @ self.hidden_bias
            - 0.5 * self.num_hidden / beta * jnp.log(2 * jnp.pi / beta)
        )


class RBMVisible(SpinModel):
    """The visible layer of an :class:`RBM` with the hidden layer summed out at ``beta``.

    ``energy(v) = rbm.free_energy(v, beta)``; see :meth:`RBM.visible_model` for when its Boltzmann
    law is the RBM's marginal. ``F_beta`` is not linear in ``v_i``, but on +-1 spins every
    function is ``A_i + v_i B_i``, so the local field is the flip-cost half-difference

        f_i = (F(v, v_i = -1) - F(v, v_i = +1)) / 2,      dE_i = 2 v_i f_i,

        binary:   f_i = a_i + 1/(2 beta) sum_j [logcosh(beta x_j^{i+}) - logcosh(beta x_j^{i-})],
                  x^{i+-} = x - v_i W_i +- W_i  (x = b + W^T v),
        gaussian: f_i = a_i + (W x)_i - v_i |W_i|^2   (= (J v + a + W b)_i of :meth:`RBM.to_pairwise`).

    Args:
        rbm: the machine (either hidden type).
        beta: inverse temperature > 0 at which the hidden layer is summed out (an array leaf).
    """

    rbm: RBM
    beta: Float[Array, ""]

    def __init__(self, rbm: RBM, beta=1.0):
        if not isinstance(rbm, RBM):
            raise TypeError(f"rbm must be an RBM, got {type(rbm).__name__}")
        self.rbm = rbm
        self.beta = _check_beta(beta)

    @property
    def spin_shape(self) -> tuple[int, ...]:
        return (self.rbm.num_visible,)

    def energy(self, spins: Spins) -> Float[Array, ""]:
        """``F_beta(v)`` (scalar)."""
        return self.rbm.free_energy(spins, self.beta)

    def _fields(self, v: Float[Array, " nv"], rows: Float[Array, "k nh"], v_rows: Float[Array, " k"], a_rows) -> Array:
        rbm, beta = self.rbm, self.beta
        x = rbm.hidden_field(v)
        if rbm.hidden == "gaussian":
            return a_rows + rows @ x - v_rows * jnp.sum(rows**2, axis=-1)
        without = x - v_rows[:, None] * rows  # x with unit i removed, (k, Nh)
        gain = _log_2cosh(beta * (without + rows)) - _log_2cosh(beta * (without - rows))
        return a_rows + jnp.sum(gain, axis=-1) / (2 * beta)

    def local_field(self, spins: Spins) -> Float[Array, " nv"]:
        """``f_i = (F(v_i = -1) - F(v_i = +1)) / 2`` for all visible units, (Nv,), O(Nv Nh)."""
        v = spins.astype(self.rbm.weights.dtype)
        return self._fields(v, self.rbm.weights, v, self.rbm.visible_bias)

    def site_field(self, spins: Spins, index: Int[Array, ""]) -> Float[Array, ""]:
        """Local field of visible unit ``index`` in O(Nv Nh) (the hidden fields need all of ``v``)."""
        v = spins.astype(self.rbm.weights.dtype)
        return self._fields(v, self.rbm.weights[index][None], v[index][None], self.rbm.visible_bias[index])[0]
