"""Counter-based generators (jaxphys.mc.random) against published known answers and exact arithmetic.

- Philox4x32-10 and Threefry-2x32-20 reproduce the Random123 known-answer vectors
  (``tests/kat_vectors`` of the Random123 distribution; the same vectors are in TensorFlow's
  and Random123-Boost's tests), with either 64-bit product method, under jit, with x64 on or off.
- Threefry-2x32 agrees word for word with ``jax.extend.random.threefry_2x32`` (JAX's own
  implementation) on random inputs; ``mulhilo32`` agrees with exact numpy uint64 products.
- Uniformity: chi-square of byte histograms and of successive-word pairs over 2^18 words; each
  test fails if p < 1e-3, a 0.1% false-failure rate for a random seed (the inputs are fixed, so
  the outcome is deterministic).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.mc.random import key_words, mulhilo32, philox4x32, threefry2x32
from jaxphys.testing import chi_square

ALPHA = 1e-3
ONES = 0xFFFFFFFF
# (counter, key, output) from Random123 kat_vectors: philox4x32 10 rounds.
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((ONES,) * 4, (ONES, ONES), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]
# threefry2x32 20 rounds.
THREEFRY_KAT = [
    ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
    ((ONES, ONES), (ONES, ONES), (0x1CB996FC, 0xBB002BE7)),
    ((0x243F6A88, 0x85A308D3), (0x13198A2E, 0x03707344), (0xC4923A9C, 0x483DF7A0)),
]


def _words(values):
    return tuple(jnp.uint32(v) for v in values)


@pytest.mark.parametrize("method", ["wide", "limbs"])
@pytest.mark.parametrize("counter,key,expected", PHILOX_KAT)
def test_philox_known_answers(counter, key, expected, method):
    eager = philox4x32(_words(counter), _words(key), method=method)
    jitted = jax.jit(lambda c, k: philox4x32(c, k, method=method))(_words(counter), _words(key))
    assert [int(w) for w in eager] == list(expected)
    assert [int(w) for w in jitted] == list(expected)


@pytest.mark.parametrize("counter,key,expected", THREEFRY_KAT)
def test_threefry_known_answers(counter, key, expected):
    out = jax.jit(threefry2x32)(_words(counter), _words(key))
    assert [int(w) for w in out] == list(expected)


def test_known_answers_with_x64_enabled():
    with jax.enable_x64(True):
        for method in ("wide", "limbs"):
            for counter, key, expected in PHILOX_KAT:
                out = jax.jit(lambda c, k: philox4x32(c, k, method=method))(_words(counter), _words(key))
                assert [int(w) for w in out] == list(expected)
                assert all(w.dtype == jnp.uint32 for w in out)
        counter, key, expected = THREEFRY_KAT[2]
        assert [int(w) for w in threefry2x32(_words(counter), _words(key))] == list(expected)


def test_threefry_matches_jax_threefry_on_random_inputs():
    rng = np.random.default_rng(0)
    x0, x1 = rng.integers(0, 1 << 32, size=(2, 1000), dtype=np.uint64).astype(np.uint32)
    k0, k1 = (int(v) for v in rng.integers(0, 1 << 32, size=2, dtype=np.uint64))
    ours = jax.jit(threefry2x32)((jnp.asarray(x0), jnp.asarray(x1)), (jnp.uint32(k0), jnp.uint32(k1)))
    theirs = jax.extend.random.threefry_2x32(
        jnp.array([k0, k1], jnp.uint32), jnp.concatenate([jnp.asarray(x0), jnp.asarray(x1)])
    )
    np.testing.assert_array_equal(np.asarray(ours[0]), np.asarray(theirs[:1000]))
    np.testing.assert_array_equal(np.asarray(ours[1]), np.asarray(theirs[1000:]))


@pytest.mark.parametrize("multiplier", [0xD2511F53, 0xCD9E8D57, ONES, 1, 0])
def test_mulhilo_matches_exact_products(multiplier):
    rng = np.random.default_rng(1)
    edges = [0, 1, 0xFFFF, 0x10000, ONES - 1, ONES]
    a = np.concatenate([edges, rng.integers(0, 1 << 32, 5000, dtype=np.uint64)]).astype(np.uint32)
    exact = a.astype(np.uint64) * np.uint64(multiplier)
    for method in ("wide", "limbs"):
        hi, lo = jax.jit(lambda x: mulhilo32(x, multiplier, method=method))(jnp.asarray(a))
        np.testing.assert_array_equal(np.asarray(hi), (exact >> np.uint64(32)).astype(np.uint32), err_msg=method)
        np.testing.assert_array_equal(np.asarray(lo), (exact & np.uint64(ONES)).astype(np.uint32), err_msg=method)


def test_arrays_broadcast_and_vmap_like_scalars():
    counters = jnp.arange(8, dtype=jnp.uint32)
    key = (jnp.uint32(7), jnp.uint32(9))
    zero = jnp.zeros((), jnp.uint32)
    batched = philox4x32((counters, zero, zero, zero), key)
    single = [philox4x32((jnp.uint32(c), zero, zero, zero), key) for c in range(8)]
    mapped = jax.vmap(lambda c: philox4x32((c, zero, zero, zero), key))(counters)
    for w in range(4):
        np.testing.assert_array_equal(np.asarray(batched[w]), [int(s[w]) for s in single])
        np.testing.assert_array_equal(np.asarray(mapped[w]), np.asarray(batched[w]))


def _stream(generator: str, num_calls: int, key_seed: int = 0) -> np.ndarray:
    k0, k1 = key_words(jax.random.key(key_seed))
    i = jnp.arange(num_calls, dtype=jnp.uint32)
    zero = jnp.zeros((), jnp.uint32)
    if generator == "philox":
        words = philox4x32((i, zero, zero, zero), (k0, k1))
    else:
        words = threefry2x32((i, zero), (k0, k1))
    return np.stack([np.asarray(w) for w in words], axis=-1).reshape(-1)  # call-major order


@pytest.mark.parametrize("generator", ["philox", "threefry"])
def test_uniform_bytes_and_pairs(generator):
    """Bytes of 2^18 words are uniform on 256 values; successive words' top nibbles on 16 x 16."""
    words = _stream(generator, (1 << 18) // (4 if generator == "philox" else 2))
    for shift in (0, 8, 16, 24):
        counts = np.bincount((words >> shift) & 0xFF, minlength=256)
        assert chi_square(counts, np.full(256, 1 / 256)).p_value > ALPHA, (generator, shift)
    top = words >> 28
    pairs = np.bincount(16 * top[:-1:2] + top[1::2], minlength=256)
    assert chi_square(pairs, np.full(256, 1 / 256)).p_value > ALPHA, generator
    # Every bit is set half the time: 2^18 draws give a standard deviation of 256 counts.
    bit_counts = ((words[:, None] >> np.arange(32, dtype=np.uint32)) & 1).sum(axis=0)
    assert np.all(np.abs(bit_counts - words.size / 2) < 5 * np.sqrt(words.size) / 2), bit_counts


def test_keys_and_counters_give_different_streams():
    a, b = _stream("philox", 4096, key_seed=0), _stream("philox", 4096, key_seed=1)
    assert np.mean(a == b) < 1e-3
    # Uniform words: the correlation of two independent streams of n words is ~ N(0, 1/n).
    assert abs(np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1]) < 5 / np.sqrt(a.size)


def test_bad_input_raises():
    with pytest.raises(TypeError, match="uint32"):
        philox4x32((jnp.int32(0),) * 4, _words((0, 0)))
    with pytest.raises(ValueError, match="4 words"):
        philox4x32(_words((0, 0)), _words((0, 0)))
    with pytest.raises(ValueError, match="2 words"):
        threefry2x32(_words((0, 0, 0)), _words((0, 0)))
    with pytest.raises(ValueError, match="multiple of 4"):
        threefry2x32(_words((0, 0)), _words((0, 0)), rounds=13)
    with pytest.raises(ValueError, match="method"):
        mulhilo32(jnp.uint32(3), 5, method="float")
    with pytest.raises(ValueError, match="multiplier"):
        mulhilo32(jnp.uint32(3), 1 << 32)
