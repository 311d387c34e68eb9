"""Checkerboard Metropolis and heat-bath sweeps for the periodic Ising model (the fast lattice path).

Colours. A site ``x = (x_1, ..., x_d)`` of a periodic hypercubic lattice with even sides has
colour ``(x_1 + ... + x_d) mod 2``; every bond joins two colours. Given one colour, the spins of
the other are conditionally independent, so updating all sites of a colour at once is the same
Markov kernel as visiting them one by one. Each single-site update obeys detailed balance,

    Metropolis (Metropolis et al. 1953): flip s_i with probability min(1, exp(-2 beta s_i f_i)),
    heat bath (Glauber 1963):          s_i = +1 with probability 1 / (1 + exp(-2 beta f_i)),

with ``f_i = J sum_{j nn i} s_j + h_i``, so a sweep (colour 0, then colour 1) leaves the
Boltzmann distribution of ``E = -J sum_<ij> s_i s_j - sum_i h_i s_i`` invariant. Invariance is
not convergence: Metropolis accepts every zero-cost flip, and a whole colour moves at once, so
at ``beta = 0`` it flips every spin each sweep (a periodic chain), and at ``h = 0`` on a chain
or a 2 x L strip it is not ergodic (the exact one-sweep matrix of an 8-site ring has eigenvalue
1 five times and -1 twice: domain walls travel deterministically). Use heat bath, a field, or
wider lattices there (the 4 x 4 square and 2 x 2 x 4 cube converge; see the tests). Also at
``h = 0`` on any lattice, a configuration in which every local field vanishes (36 of the 2^16
states of the 4 x 4 torus, a random start hits one with probability 5.5e-4; vanishingly rare on
larger lattices) is a closed 2-cycle: each half-sweep flips a whole colour. The Boltzmann law
gives no weight to entering it, so only such a start is affected; heat bath has no such cycle.

Compact layout. In a row ``(x_1, ..., x_{d-1})`` of parity ``p = (x_1 + ... + x_{d-1}) mod 2``
colour 0 sits at ``x_d = 2k + p`` and colour 1 at ``x_d = 2k + 1 - p``, ``k = 0 .. L_d/2 - 1``.
A colour-0 site in compact column ``k`` has its last-axis neighbours in columns ``k`` and
``k - 1`` (p = 0) or ``k`` and ``k + 1`` (p = 1) of colour 1 (the opposite for colour 1); its
neighbours along the other axes are at the same ``k`` one row up and down. So the neighbour sum
``nn = sum_{j nn i} s_j`` (an integer in ``[-2d, 2d]``) is a few shifted reads.

Storage and the packed update. :class:`CheckerboardState` keeps each colour compact, one byte
per spin: as int8 ``(L_1, ..., L_{d-1}, L_d/2)`` in general, and, when ``L_d`` is a multiple of
8, as the same bytes read as uint32 words ``(L_1, ..., L_{d-1}, L_d/8)`` (byte ``j`` of word
``w`` = compact column ``4w + j``, little-endian). The packed kernel works on these words: the
neighbour counts of a word's four sites are formed at once in its four bytes ("SIMD within a
register"): the down-spin indicator of a byte is ``(byte >> 7) & 1``, and the count ``c =
#{down neighbours}``, ``nn = 2d - 2c``, is a sum of shifted words that never carries between
bytes (``c <= 2d < 256``). Each byte then compares its own 32-bit random word with an
acceptance threshold picked from a small table by a branch-free binary tree of selects (it
vectorises; a gather measured slower on CPU), and the four decisions go back into the word
with shifts, so a flip is ``word ^ (flags * 0xFE)`` (0x01 <-> 0xFF). The words are stored,
not just used inside ``step``, because XLA on CPU fuses an int8 view of the result into the
update loop, which then runs per byte and recomputes each word's random numbers four times;
converting at every step cost 15-20% even when it did not. Other shapes use the same
arithmetic one int8 site at a time; both kernels give identical results from the same key.

Thresholds. A move of probability ``P`` is accepted iff ``u < T`` with ``u`` a uniform uint32
word and ``T = round(P 2^32)`` saturated at ``2^32 - 1``, so the realised probability is
``T / 2^32``: exact to ``2^-33`` by rounding, except that ``P = 1`` becomes ``1 - 2^-32`` (a
favourable move is refused once in 4.3e9 attempts) and ``P < 2^-33`` becomes 0. The tables
(``(2, 2d + 1)`` for Metropolis, indexed by own spin and ``c``; ``(2d + 1,)`` for heat bath) are
built inside ``step`` from the traced ``beta``, ``J`` and ``h``, in the default float dtype, so
with x64 off ``P`` itself carries float32 rounding (relative 6e-8), which dominates the 2^-32
quantisation except for ``P < 2^-8``. A site-dependent field (``h`` an array) skips the table
and evaluates ``exp`` per site.

Random words. Site ``i`` of a colour (flat C-order index of the compact array) gets word
``i mod 4`` of call ``i // 4``. ``generator="philox"`` (Philox4x32-10, counter ``(m, colour, 0,
0)`` for call ``m``) and ``"threefry_fused"`` (Threefry-2x32-20, counters ``(m, 2 colour)`` and
``(m, 2 colour + 1)``), from :mod:`jaxphys.mc.random`, are keyed by two words of
``jax.random.bits(key)`` and computed inside the update, so no random array is written to
memory. ``generator="threefry"`` draws one ``jax.random.bits`` array per colour (keys from
``jax.random.split(key)``; the key's own implementation, Threefry-2x32 by default), which XLA
materialises before the update.

Speed (``benchmarks/ising_checkerboard.py``; L = 1024, T = 2.269, one AMD EPYC Zen 4 core,
attempted flips per ns, acceptance rate included, two runs): ``philox`` 0.94-1.09,
``threefry_fused`` 1.16-1.17, ``threefry`` 0.25, against 0.08 for numpy on compact sublattices
and 0.64 for a tuned numba kernel with the same Philox. Under ``vmap`` over 8 replicas (8 MB of
spins, beyond the core's L2): 0.71-0.94, 0.91-1.00 and 0.12-0.14. The ``threefry`` path is
bound by ``jax.random.bits`` itself (0.27 words/ns here with the default
``jax_threefry_partitionable=True``; with it off the path ran at 0.46-0.49).
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int, UInt32

from .. import status as st
from ..models.base import float_dtype
from ..models.ising import Ising
from .base import Sampler, SweepInfo, beta_status, check_beta
from .random import key_words, philox4x32, threefry2x32

RULES = ("metropolis", "heatbath")
GENERATORS = ("threefry", "philox", "threefry_fused")

_U32 = jnp.uint32
_SITES_PER_WORD = 4
_LOW_BITS = 0x01010101  # bit 0 of each byte
_SPIN_FLIP = 0xFE  # int8 +1 (0x01) xor 0xFE = -1 (0xFF), and back
_TWO_32 = 4294967296.0


class CheckerboardState(NamedTuple):
    """State of the checkerboard sampler: both colours in compact form, and the status word.

    ``even``, ``odd``: the sites with even / odd coordinate sum, one byte per spin: int8
    ``(L_1, ..., L_{d-1}, L_d/2)``, or, when ``L_d % 8 == 0``, those bytes as uint32 words
    ``(L_1, ..., L_{d-1}, L_d/8)`` (see the module docstring).
    ``status``: int32 bitmask (:class:`jaxphys.status.Status`), shape ``()`` (or the batch shape).
    ``spins`` (property): the int8 configuration in the model's shape; leading batch axes (from
    ``vmap``) are kept, recognised by ``status`` having them too.
    """

    even: Array
    odd: Array
    status: Int[Array, "..."]

    @property
    def spins(self) -> Int[Array, "..."]:
        even, odd = _from_storage(self.even), _from_storage(self.odd)
        return _merge_colours(even, odd, batch_ndim=jnp.ndim(self.status))


def _row_parity(lattice_shape: tuple[int, ...]) -> np.ndarray:
    """``(x_1 + ... + x_{d-1}) mod 2`` as an int array ``(L_1, ..., L_{d-1}, 1)`` (``(1,)`` for a chain)."""
    rows = lattice_shape[:-1]
    if not rows:
        return np.zeros((1,), np.int32)
    return (np.indices(rows).sum(axis=0) % 2).astype(np.int32)[..., None]


def _split_colours(x: Array, batch_ndim: int = 0) -> tuple[Array, Array]:
    """Split an array of lattice shape (after ``batch_ndim`` batch axes) into compact colours 0 and 1."""
    lattice_shape = x.shape[batch_ndim:]
    pairs = x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2)
    at_even_x, at_odd_x = pairs[..., 0], pairs[..., 1]
    odd_row = _row_parity(lattice_shape) == 1
    return jnp.where(odd_row, at_odd_x, at_even_x), jnp.where(odd_row, at_even_x, at_odd_x)


def _merge_colours(even: Array, odd: Array, batch_ndim: int = 0) -> Array:
    """Inverse of :func:`_split_colours`."""
    compact_shape = even.shape[batch_ndim:]
    lattice_shape = (*compact_shape[:-1], 2 * compact_shape[-1])
    odd_row = _row_parity(lattice_shape) == 1
    at_even_x = jnp.where(odd_row, odd, even)
    at_odd_x = jnp.where(odd_row, even, odd)
    return jnp.stack([at_even_x, at_odd_x], axis=-1).reshape(*even.shape[:-1], 2 * even.shape[-1])


def _check_model(model) -> None:
    if not isinstance(model, Ising):
        raise ValueError(
            f"the checkerboard sampler works for jaxphys.models.Ising only, got {type(model).__name__}; "
            "use jaxphys.mc.metropolis or jaxphys.mc.heatbath for other spin models"
        )
    if not model.periodic:
        raise ValueError(
            "the checkerboard sampler needs periodic boundaries (Ising(..., periodic=True)); "
            "use jaxphys.mc.metropolis or jaxphys.mc.heatbath for open boundaries"
        )
    if any(side % 2 for side in model.shape):
        raise ValueError(
            f"the checkerboard sampler needs every side even (a periodic odd side breaks the two-colouring), "
            f"got shape {model.shape}; use even sides or jaxphys.mc.metropolis"
        )


def _storage_layout(shape: tuple[int, ...]) -> tuple[tuple[int, ...], jnp.dtype]:
    """Shape and dtype of one stored colour for a lattice of ``shape``."""
    if _packable(shape):
        return (*shape[:-1], shape[-1] // (2 * _SITES_PER_WORD)), jnp.dtype(_U32)
    return (*shape[:-1], shape[-1] // 2), jnp.dtype(jnp.int8)


def _check_state(state, model) -> None:
    if not isinstance(state, CheckerboardState):
        raise TypeError(f"state must be a CheckerboardState from this sampler's init, got {type(state).__name__}")
    shape, dtype = _storage_layout(model.shape)
    for name in ("even", "odd"):
        part = getattr(state, name)
        if tuple(part.shape) != shape or part.dtype != dtype:
            raise ValueError(
                f"state.{name} must be {dtype} of shape {shape} for a model of shape {model.shape}, "
                f"got {part.dtype} {tuple(part.shape)}; build the state with init(model, spins) "
                "(and vmap step over batched states)"
            )


def _probability_to_threshold(p: Array) -> UInt32[Array, "..."]:
    """``T = round(p 2^32)`` saturated to ``[0, 2^32 - 1]``; accept iff ``u < T`` for uniform uint32 ``u``.

    NaN maps to 0 (never accept); the caller flags NaN parameters in the status word.
    """
    x = p * jnp.asarray(_TWO_32, p.dtype)
    x = jnp.where(x > 0, x, jnp.zeros_like(x))  # NaN and negative -> 0
    full = x >= jnp.asarray(_TWO_32 - 0.5, p.dtype)
    return jnp.where(full, _U32(0xFFFFFFFF), jnp.floor(jnp.where(full, 0, x) + 0.5).astype(_U32))


def _move_probability(rule: str, beta: Array, field: Array, spin: Array) -> Array:
    """Metropolis: ``min(1, exp(-2 beta s f))`` for flipping ``s``; heat bath: P(s = +1) = sigmoid(2 beta f)."""
    if rule == "metropolis":
        return jnp.minimum(1.0, jnp.exp(-2.0 * beta * spin * field))
    return jax.nn.sigmoid(2.0 * beta * field)


def _threshold_table(rule: str, beta: Array, coupling: Array, field: Array, ndim: int) -> UInt32[Array, " K"]:
    """Thresholds indexed by ``q = c + (2d + 1) b`` (Metropolis) or ``q = c`` (heat bath).

    ``c`` = number of down neighbours (``nn = 2d - 2c``), ``b`` = 1 if the site's own spin is down.
    """
    down = jnp.arange(2 * ndim + 1)
    neighbour_sum = (2 * ndim - 2 * down).astype(beta.dtype)
    local = coupling * neighbour_sum + field
    if rule == "metropolis":
        spin = jnp.array([[1.0], [-1.0]], beta.dtype)  # row b = 0 (up), b = 1 (down)
        p = _move_probability(rule, beta, local[None, :], spin).reshape(-1)
    else:
        p = _move_probability(rule, beta, local, None)
    return _probability_to_threshold(p)


def _lookup(table: Array, index: UInt32[Array, "..."]) -> UInt32[Array, "..."]:
    """``table[index]`` for a short static-length table, as a binary tree of selects on the index bits.

    On CPU this vectorises (compare-to-mask + blend) and measured faster than a gather; for K
    entries it costs K - 1 selects and ceil(log2 K) bit tests per element.
    """
    values = [table[k] for k in range(table.shape[0])]
    bit = 1
    while len(values) > 1:
        take_upper = (index & _U32(bit)) != 0
        values = [
            jnp.where(take_upper, values[i + 1], values[i]) if i + 1 < len(values) else values[i]
            for i in range(0, len(values), 2)
        ]
        bit <<= 1
    return jnp.broadcast_to(values[0], index.shape)


class _Update(NamedTuple):
    """Everything a half-sweep needs besides the spins."""

    rule: str
    ndim: int
    beta: Array
    coupling: Array
    table: Array | None  # thresholds, or None with a site-dependent field
    fields: Array | None  # (2, *compact shape) colours of h when h is an array, else None

    def hits(self, down_count, own_down, words, field) -> Array:
        """Boolean per site: flip (Metropolis) or set up (heat bath). Inputs are uint32 arrays."""
        if field is None:
            index = down_count + _U32(2 * self.ndim + 1) * own_down if self.rule == "metropolis" else down_count
            return words < _lookup(self.table, index)
        neighbour_sum = (2 * self.ndim - 2 * down_count.astype(jnp.int32)).astype(self.beta.dtype)
        spin = (1 - 2 * own_down.astype(jnp.int32)).astype(self.beta.dtype)
        p = _move_probability(self.rule, self.beta, self.coupling * neighbour_sum + field, spin)
        return words < _probability_to_threshold(p)


def _word_source(generator: str, key, num_sites: int) -> Callable[[int, Array], list[Array]]:
    """``words(colour, index) -> [w_0, w_1, w_2, w_3]``, the uint32 words of sites ``4 index + j``.

    Site ``i`` of a colour (flat C-order compact index) always gets the same word, whichever
    kernel (packed or per-site) asks for it, so both kernels give identical sweeps.
    """
    if generator == "threefry":
        colour_keys = jax.random.split(key)
        padded = -(-num_sites // _SITES_PER_WORD) * _SITES_PER_WORD

        def words(colour, index):
            bits = jax.random.bits(colour_keys[colour], (num_sites,), _U32)
            bits = jnp.pad(bits, (0, padded - num_sites)).reshape(*index.shape, _SITES_PER_WORD)
            return [bits[..., j] for j in range(_SITES_PER_WORD)]

        return words

    k0, k1 = key_words(key)
    if generator == "philox":

        def words(colour, index):
            zero = jnp.zeros((), _U32)
            return list(philox4x32((index, _U32(colour), zero, zero), (k0, k1)))

        return words

    def words(colour, index):
        first = threefry2x32((index, _U32(2 * colour)), (k0, k1))
        second = threefry2x32((index, _U32(2 * colour + 1)), (k0, k1))
        return [*first, *second]

    return words


def _second_neighbour_is_before(colour: int, rows: tuple[int, ...], half: int) -> np.ndarray:
    """Whether the second last-axis neighbour of each row's sites is compact column ``k - 1`` (else ``k + 1``).

    A site of colour ``c`` in a row of parity ``p`` sits at ``x_d = 2k + (p xor c)``, so its
    neighbours ``x_d -+ 1`` of the other colour are columns ``k`` and ``k - 1`` iff ``p == c``.
    """
    return _row_parity((*rows, 2 * half)) == colour


def _shifted(padded: Array, shape: tuple[int, ...], axis: int | None, offset: int) -> Array:
    """The block of ``padded`` (``shape`` plus a one-cell halo on every axis) moved by ``offset`` along ``axis``."""
    starts = [1 + (offset if a == axis else 0) for a in range(len(shape))]
    return jax.lax.slice(padded, starts, [s + n for s, n in zip(starts, shape)])


def _half_sweep_packed(colour: int, own_w, other_w, update: _Update, words: Callable) -> Array:
    """Update one colour, given as uint32 words of four int8 spins, from the other colour's words."""
    word_shape = own_w.shape
    *rows, num_words_in_row = word_shape
    # Down-spin indicators of the other colour with a periodic one-word halo: all 2d neighbour
    # reads below are then plain offset loads inside the fused update loop (rolls would each
    # be a separate concatenated copy).
    padded = jax.lax.optimization_barrier(jnp.pad((other_w >> _U32(7)) & _U32(_LOW_BITS), 1, mode="wrap"))
    last = len(word_shape) - 1
    centre = _shifted(padded, word_shape, None, 0)
    # Little-endian: byte j of word w is compact column 4w + j, so column k - 1 is the word
    # shifted up one byte with the top byte of the previous word coming in, k + 1 the reverse.
    before = (centre << _U32(8)) | (_shifted(padded, word_shape, last, -1) >> _U32(24))
    after = (centre >> _U32(8)) | (_shifted(padded, word_shape, last, 1) << _U32(24))
    use_before = _second_neighbour_is_before(colour, tuple(rows), _SITES_PER_WORD * num_words_in_row)
    down_count = centre + jnp.where(use_before, before, after)
    for axis in range(last):
        down_count = down_count + _shifted(padded, word_shape, axis, -1) + _shifted(padded, word_shape, axis, 1)
    own_down = (own_w >> _U32(7)) & _U32(_LOW_BITS)
    index = jax.lax.iota(_U32, math.prod(word_shape)).reshape(word_shape)
    site_words = words(colour, index)
    if update.fields is not None:
        field = update.fields[colour].reshape(*word_shape, _SITES_PER_WORD)
    elif update.rule == "metropolis":
        # The table index c + (2d + 1) b of all four bytes at once (each byte stays < 256).
        packed_index = down_count + _U32(2 * update.ndim + 1) * own_down
    hits = jnp.zeros(word_shape, _U32)
    for j in range(_SITES_PER_WORD):
        byte = lambda x: (x >> _U32(8 * j)) & _U32(0xFF)
        if update.fields is not None:
            hit = update.hits(byte(down_count), byte(own_down), site_words[j], field[..., j])
        elif update.rule == "metropolis":
            hit = site_words[j] < _lookup(update.table, byte(packed_index))
        else:
            hit = update.hits(byte(down_count), None, site_words[j], None)
        hits = hits | (hit.astype(_U32) << _U32(8 * j))
    flip_or_down = hits * _U32(_SPIN_FLIP)  # 0xFE in every byte that is hit
    if update.rule == "metropolis":
        return own_w ^ flip_or_down
    return _U32(0xFFFFFFFF) ^ flip_or_down  # hit -> 0x01 (up), miss -> 0xFF (down)


def _half_sweep_sites(colour: int, own, other, update: _Update, words: Callable) -> Array:
    """Same update as :func:`_half_sweep_packed`, one int8 site at a time (any even shape)."""
    *rows, half = own.shape
    other_down = (other < 0).astype(_U32)
    use_before = _second_neighbour_is_before(colour, tuple(rows), half)
    down_count = other_down + jnp.where(use_before, jnp.roll(other_down, 1, axis=-1), jnp.roll(other_down, -1, axis=-1))
    for axis in range(len(rows)):
        down_count = down_count + jnp.roll(other_down, 1, axis=axis) + jnp.roll(other_down, -1, axis=axis)
    num_sites = own.size
    num_words = -(-num_sites // _SITES_PER_WORD)
    site_words = jnp.stack(words(colour, jnp.arange(num_words, dtype=_U32)), axis=-1)
    site_words = site_words.reshape(-1)[:num_sites].reshape(own.shape)
    field = None if update.fields is None else update.fields[colour]
    hit = update.hits(down_count, (own < 0).astype(_U32), site_words, field)
    if update.rule == "metropolis":
        return jnp.where(hit, -own, own)
    return jnp.where(hit, jnp.int8(1), jnp.int8(-1))


def _packable(shape: tuple[int, ...]) -> bool:
    """Whether the packed kernel (and word storage) applies: ``L_d % 8 == 0`` on a little-endian host."""
    return shape[-1] % (2 * _SITES_PER_WORD) == 0 and sys.byteorder == "little"


def _to_words(x: Array) -> UInt32[Array, "..."]:
    """int8 ``(..., 4 W)`` -> uint32 ``(..., W)``, byte ``j`` of word ``w`` = element ``4 w + j``."""
    return jax.lax.bitcast_convert_type(x.reshape(*x.shape[:-1], -1, _SITES_PER_WORD), _U32)


def _from_words(w: UInt32[Array, "..."]) -> Array:
    return jax.lax.bitcast_convert_type(w, jnp.int8).reshape(*w.shape[:-1], -1)


def _from_storage(x: Array) -> Array:
    """A stored colour as int8 compact ``(..., L_d/2)``."""
    return _from_words(x) if x.dtype == _U32 else x


def _count_changes(old: Array, new: Array) -> Array:
    """Number of spins that differ between two stored colours."""
    if old.dtype == _U32:  # bit 1 of a byte tells +1 (0x01) from -1 (0xFF)
        return jnp.sum(jax.lax.population_count((old ^ new) & _U32(2 * _LOW_BITS)), dtype=_U32).astype(jnp.int32)
    return jnp.sum(old != new, dtype=jnp.int32)


def _sweep(key, state: CheckerboardState, model, beta, *, rule: str, generator: str, packed: bool | None = None):
    """One sweep (colour 0 then colour 1).

    ``packed=None`` uses the packed kernel whenever the storage is words; ``packed=False`` forces
    the per-site kernel (for tests: both must agree exactly).
    """
    _check_model(model)
    _check_state(state, model)
    beta = check_beta(beta)
    if beta.ndim != 0:
        raise ValueError(f"beta must be a scalar, got shape {beta.shape}; vmap over step for several betas")
    dtype = float_dtype()
    coupling = model.J.astype(dtype)
    field = model.h.astype(dtype)
    status = state.status | beta_status(beta)
    status = st.flag(status, st.Status.NAN, ~(jnp.isfinite(coupling) & jnp.all(jnp.isfinite(field))))
    ndim = len(model.shape)
    if field.ndim == 0:
        update = _Update(rule, ndim, beta, coupling, _threshold_table(rule, beta, coupling, field, ndim), None)
    else:
        fields = jnp.stack(_split_colours(jnp.broadcast_to(field, model.shape)))
        update = _Update(rule, ndim, beta, coupling, None, fields)
    num_sites = model.num_spins // 2
    if -(-num_sites // _SITES_PER_WORD) >= 1 << 32:
        raise ValueError(f"lattice too large for 32-bit random counters: {model.shape}")
    words = _word_source(generator, key, num_sites)
    stored_as_words = state.even.dtype == _U32
    if packed is None:
        packed = stored_as_words
    elif packed and not stored_as_words:
        raise ValueError(f"the packed kernel needs the last side to be a multiple of 8, got shape {model.shape}")
    if packed:
        even = _half_sweep_packed(0, state.even, state.odd, update, words)
        odd = _half_sweep_packed(1, state.odd, even, update, words)
    else:
        old_even, old_odd = _from_storage(state.even), _from_storage(state.odd)
        even = _half_sweep_sites(0, old_even, old_odd, update, words)
        odd = _half_sweep_sites(1, old_odd, even, update, words)
        if stored_as_words:
            even, odd = _to_words(even), _to_words(odd)
    # Counted from the stored colours before and after, not inside the update: there, XLA fused
    # (and so repeated) the whole update, random words included, into the reduction.
    changed = _count_changes(state.even, even) + _count_changes(state.odd, odd)
    rate = changed.astype(dtype) / model.num_spins
    return CheckerboardState(even=even, odd=odd, status=status), SweepInfo(acceptance_rate=rate)


@functools.cache
def checkerboard(rule: str = "metropolis", generator: str = "threefry_fused") -> Sampler:
    """Checkerboard sampler for :class:`jaxphys.models.Ising` with periodic boundaries and even sides.

    Works in any dimension (chain, square, cubic, ...); see the module docstring for the layout,
    the packed kernel and the threshold rounding (``|bias| <= 2^-32`` per move).

    Args:
        rule: ``"metropolis"`` (flip with ``min(1, exp(-beta dE))``) or ``"heatbath"`` (set
            ``s_i = +1`` with ``1 / (1 + exp(-2 beta f_i))``).
        generator: ``"threefry_fused"`` (default: Threefry-2x32-20, the generator behind
            ``jax.random``, written in jnp and fused into the update; the fastest on CPU),
            ``"philox"`` (Philox4x32-10, fused) or ``"threefry"`` (``jax.random.bits``,
            materialised; the simplest and slowest path). All three are counter-based generators
            of published quality (Salmon et al., SC'11), tested against known-answer vectors.

    Returns:
        ``Sampler(init, step)``, cached (equal arguments give the same object, so ``jit``
        compiles once):

        - ``init(model, spins) -> CheckerboardState``; ``spins`` int8 +-1 of ``model.shape``.
          The state holds both colours compactly (one byte per spin; uint32 words of four
          spins when ``L_d % 8 == 0``) and ``state.spins`` gives the int8 configuration.
        - ``step(key, state, model, beta) -> (CheckerboardState, SweepInfo)``: one sweep (both
          colours, N attempted updates); ``SweepInfo.acceptance_rate`` is the fraction of spins
          that changed (float dtype). ``key`` is a typed key, ``beta`` a scalar; ``jax.vmap``
          over keys (chains), states, betas or models (``eqx.filter_vmap``) works.

    Raises:
        ValueError: unknown ``rule``/``generator``; in ``init``/``step``: a model that is not
            ``Ising``, open boundaries, an odd side, a concrete negative/NaN ``beta``, a non-scalar
            ``beta``, a state of the wrong shape. TypeError: spins that are not int8, a state
            that is not a ``CheckerboardState``.
        A traced negative/NaN ``beta`` sets ``Status.INVALID_PARAMETER`` and NaN couplings or
        fields set ``Status.NAN`` in ``state.status`` instead.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {GENERATORS}, got {generator!r}")

    def init(model, spins) -> CheckerboardState:
        _check_model(model)
        model.check_spins(spins)
        even, odd = _split_colours(spins)
        if _packable(model.shape):
            even, odd = _to_words(even), _to_words(odd)
        return CheckerboardState(even=even, odd=odd, status=st.ok())

    def step(key, state: CheckerboardState, model, beta) -> tuple[CheckerboardState, SweepInfo]:
        return _sweep(key, state, model, beta, rule=rule, generator=generator)

    return Sampler(init=init, step=step)
