"""Block Gibbs sampling of bipartite models: all hidden units given the visible ones, then back.

In a bipartite model (no coupling inside a layer) the units of one layer are independent given
the other layer, so each layer is drawn exactly from its conditional law in one shot. From
``p(v, h) ~ exp(-beta E(v, h))`` with ``E = -v.W.h - a.v - b.h`` (module :mod:`jaxphys.models.rbm`):

    +-1 hidden:      P(h_j = +1 | v) = sigmoid(2 beta x_j),   x = b + W^T v
    Gaussian hidden: h | v ~ N(x, 1/beta)      (exp(-beta (h^2/2 - h x)) ~ exp(-beta (h - x)^2 / 2))
    +-1 visible:     P(v_i = +1 | h) = sigmoid(2 beta (a + W h)_i).

Each half-step is a Gibbs update of a block, which leaves the joint law invariant; their
composition is irreducible for 0 < beta < inf (every state has positive probability), so the
chain converges to ``p(v, h)``. The pair (v_t, h_t) after step t is a draw from the joint law at
stationarity, because h_t was drawn given v_{t-1} and v_t given h_t (Hinton 2002; Hartnett,
Parker, Geist arXiv:1803.06442). One step costs two matrix-vector products; ``jax.vmap`` over
replicas turns them into matrix-matrix products (the accelerator fast path).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .. import status as st
from ..models.base import SpinModel, check_spins, float_dtype
from ..models.rbm import RBM
from .base import Sampler, SweepInfo, beta_status

try:  # written in parallel with this module (issue 3); the generic path below covers its absence
    from ..models.spin_glass import BipartiteSK
except ImportError:  # pragma: no cover
    BipartiteSK = None


class BlockGibbsState(NamedTuple):
    """State of :func:`block_gibbs`.

    ``spins``: int8; the joint configuration ``concat(v, h)`` (Nv + Nh,) for +-1 hidden units,
    the visible spins (Nv,) for Gaussian hidden units.
    ``hidden``: float (Nh,), the last Gaussian hidden units (``None`` for +-1 hidden units, which
    live in ``spins``).
    ``status``: int32 bitmask (:mod:`jaxphys.status`).
    """

    spins: Array
    hidden: Float[Array, " nh"] | None
    status: Int[Array, ""]


class _Layers(NamedTuple):
    num_visible: int
    gaussian: bool
    hidden_field: callable  # v (Nv,) -> field on hidden units (Nh,)
    visible_field: callable  # h (Nh,) -> field on visible units (Nv,)


def _layers(model) -> _Layers:
    """How to get the conditional fields of ``model``; raises ``TypeError`` if it is not bipartite."""
    if isinstance(model, RBM):
        return _Layers(model.num_visible, model.hidden == "gaussian", model.hidden_field, model.visible_field)
    if BipartiteSK is not None and isinstance(model, BipartiteSK):
        # E = -v.W.h: the fields are W^T v and W h, one matrix-vector product per half-step.
        return _Layers(
            model.num_visible,
            False,
            lambda v: v.astype(model.W.dtype) @ model.W,
            lambda h: model.W @ h.astype(model.W.dtype),
        )
    weights = getattr(model, "W", None)
    if isinstance(model, SpinModel) and weights is not None and jnp.ndim(weights) == 2:
        # A bipartite +-1 model such as models.BipartiteSK: spins = concat(layer 1, layer 2).
        # Its own local_field gives the conditional fields whatever its normalisation of W,
        # because without intra-layer couplings the field on one layer depends on the other only.
        n1, n2 = jnp.shape(weights)
        if tuple(model.spin_shape) != (n1 + n2,):
            raise TypeError(
                f"a bipartite model with W of shape {(n1, n2)} must have spins of shape ({n1 + n2},), got {model.spin_shape}"
            )

        def hidden_field(v):
            return model.local_field(jnp.concatenate([v, jnp.ones((n2,), v.dtype)]))[n1:]

        def visible_field(h):
            return model.local_field(jnp.concatenate([jnp.ones((n1,), h.dtype), h]))[:n1]

        return _Layers(n1, False, hidden_field, visible_field)
    raise TypeError(
        f"block_gibbs needs a bipartite model (models.RBM, or a spin model with a 2-D coupling W between two "
        f"layers, spins = concat(layer 1, layer 2)); got {type(model).__name__}. Use mc.metropolis for other models."
    )


def _draw_spins(key, field: Array, beta: Array) -> Array:
    # P(s = +1) = e^{beta f} / (e^{beta f} + e^{-beta f}); a NaN field gives False -> -1 and a status bit.
    return jnp.where(jax.random.bernoulli(key, jax.nn.sigmoid(2.0 * beta * field)), 1, -1).astype(jnp.int8)


@functools.cache
def block_gibbs() -> Sampler:
    """Block Gibbs sampler for bipartite models (module docstring for the conditionals).

    Models: :class:`~jaxphys.models.RBM` with ``hidden="binary"`` or ``"gaussian"``,
    :class:`~jaxphys.models.BipartiteSK` (``E = -v.W.h``, direct matrix products), and any
    :class:`~jaxphys.models.base.SpinModel` with a 2-D coupling attribute ``W`` (N1, N2) whose
    spins are ``concat(layer 1, layer 2)`` and which has no coupling inside a layer (e.g. a
    bipartite SK model; its ``local_field`` supplies the fields, so biases come along).

    ``init(model, spins)``: ``spins`` is the joint configuration (Nv + Nh,) int8 for +-1 hidden
    units, the visible configuration (Nv,) int8 for Gaussian ones (hidden units start at 0;
    the first step redraws them from the visible ones). Returns :class:`BlockGibbsState`.

    ``step(key, state, model, beta)``: one step = all hidden units given the visible ones, then
    all visible units given the new hidden ones. Returns ``(BlockGibbsState, SweepInfo)`` with
    ``acceptance_rate`` = fraction of the +-1 units that changed. Status: ``INVALID_PARAMETER``
    for a traced negative or NaN ``beta`` (and ``beta = 0`` with Gaussian hidden units, whose law
    is then improper), ``NAN`` for non-finite fields.

    Raises (at ``init``/trace time): ``TypeError`` for a non-bipartite model or non-int8 spins,
    ``ValueError`` for spins of the wrong shape or values other than +-1.
    Cached, so ``block_gibbs() is block_gibbs()`` and ``jit`` compiles once.
    """

    def init(model, spins) -> BlockGibbsState:
        layers = _layers(model)
        if layers.gaussian:
            check_spins(spins, (layers.num_visible,))
            hidden = jnp.zeros((model.num_hidden,), float_dtype())
            return BlockGibbsState(spins=spins, hidden=hidden, status=st.ok())
        model.check_spins(spins)
        return BlockGibbsState(spins=spins, hidden=None, status=st.ok())

    def step(key, state: BlockGibbsState, model, beta):
        layers = _layers(model)
        beta = jnp.asarray(beta, float_dtype())
        key_hidden, key_visible = jax.random.split(key)
        nv = layers.num_visible
        status = state.status | beta_status(beta)
        if layers.gaussian:
            v_old = state.spins
            x = layers.hidden_field(v_old)
            hidden = x + jax.random.normal(key_hidden, x.shape, x.dtype) / jnp.sqrt(beta)
            status = st.flag(status, st.Status.INVALID_PARAMETER, ~(beta > 0))
            field_visible = layers.visible_field(hidden)
            v_new = _draw_spins(key_visible, field_visible, beta)
            finite = jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(field_visible))
            changed = jnp.sum(v_new != v_old)
            new_spins, total = v_new, nv
        else:
            v_old, h_old = state.spins[:nv], state.spins[nv:]
            field_hidden = layers.hidden_field(v_old)
            h_new = _draw_spins(key_hidden, field_hidden, beta)
            field_visible = layers.visible_field(h_new)
            v_new = _draw_spins(key_visible, field_visible, beta)
            finite = jnp.all(jnp.isfinite(field_hidden)) & jnp.all(jnp.isfinite(field_visible))
            changed = jnp.sum(v_new != v_old) + jnp.sum(h_new != h_old)
            new_spins, total, hidden = jnp.concatenate([v_new, h_new]), state.spins.size, None
        status = st.flag(status, st.Status.NAN, ~finite)
        info = SweepInfo(acceptance_rate=changed.astype(float_dtype()) / total)
        return BlockGibbsState(spins=new_spins, hidden=hidden, status=status), info

    return Sampler(init=init, step=step)
