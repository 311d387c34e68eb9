"""Energies and local fields of Ising and PairwiseIsing against independent implementations."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.lattice import neighbour_table
from jaxphys.models import Ising, PairwiseIsing
from jaxphys.mc import random_spins

GEOMETRIES = [((7,), True), ((6,), False), ((4, 5), True), ((3, 4), False), ((3, 4, 2), True), ((2, 3, 3), False), ((2, 2), True)]


def energy_from_table(shape, periodic, J, h, spins):
    """Independent reference: sum over the +1 neighbour of every site along every axis."""
    table = neighbour_table(shape, periodic=periodic)
    s = np.append(np.asarray(spins, np.float64).reshape(-1), 0.0)
    forward = table[:, 0::2]
    bonds = np.sum(s[:-1, None] * s[forward])
    return -J * bonds - np.sum(np.broadcast_to(h, shape).reshape(-1) * s[:-1])


@pytest.mark.parametrize("shape,periodic", GEOMETRIES)
def test_ising_energy_matches_neighbour_table(shape, periodic):
    rng = np.random.default_rng(0)
    h = rng.normal(size=shape)
    model = Ising(shape, J=0.7, h=h, periodic=periodic)
    for seed in range(3):
        spins = random_spins(jax.random.key(seed), shape)
        ref = energy_from_table(shape, periodic, 0.7, h, spins)
        np.testing.assert_allclose(model.energy(spins), ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("shape,periodic", GEOMETRIES)
def test_flip_cost_is_twice_spin_times_local_field(shape, periodic):
    """The spin-model contract: E(s^i) - E(s) = 2 s_i f_i(s) for every site i."""
    model = Ising(shape, J=1.3, h=0.4, periodic=periodic)
    spins = random_spins(jax.random.key(1), shape)
    flat = spins.reshape(-1)
    flipped = jax.vmap(lambda i: model.energy(flat.at[i].set(-flat[i]).reshape(shape)))(jnp.arange(flat.size))
    delta = flipped - model.energy(spins)
    field = model.local_field(spins).reshape(-1)
    np.testing.assert_allclose(delta, 2 * flat * field, rtol=1e-5, atol=1e-4)
    site = jax.vmap(lambda i: model.site_field(spins, i))(jnp.arange(flat.size))
    np.testing.assert_allclose(site, field, rtol=1e-6, atol=1e-6)


def test_ising_ground_state_energy():
    model = Ising((6, 6), J=1.0, h=0.5)
    up = jnp.ones((6, 6), jnp.int8)
    assert float(model.energy(up)) == pytest.approx(-2 * 36 - 0.5 * 36)
    assert float(model.energy(-up)) == pytest.approx(-2 * 36 + 0.5 * 36)


def test_pairwise_equals_ising_on_the_same_graph():
    shape = (3, 4)
    table = neighbour_table(shape, periodic=True)
    n = 12
    J = np.zeros((n, n))
    for i in range(n):
        for j in table[i]:
            J[i, j] += 0.5  # each bond appears from both ends of the table: J_ij = J = 1 in total per pair
    J = J + J.T
    pair = PairwiseIsing(J, h=0.3)
    lattice = Ising(shape, J=1.0, h=0.3)
    for seed in range(4):
        s = random_spins(jax.random.key(seed), shape)
        np.testing.assert_allclose(pair.energy(s.reshape(-1)), lattice.energy(s), rtol=1e-5)
        np.testing.assert_allclose(pair.local_field(s.reshape(-1)), lattice.local_field(s).reshape(-1), rtol=1e-5)


def test_pairwise_flip_cost_and_site_field():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(9, 9))
    J = np.triu(a, 1) + np.triu(a, 1).T
    model = PairwiseIsing(J, h=rng.normal(size=9))
    s = random_spins(jax.random.key(2), (9,))
    flipped = jax.vmap(lambda i: model.energy(s.at[i].set(-s[i])))(jnp.arange(9))
    np.testing.assert_allclose(flipped - model.energy(s), 2 * s * model.local_field(s), rtol=1e-4, atol=1e-5)
    site = jax.vmap(lambda i: model.site_field(s, i))(jnp.arange(9))
    np.testing.assert_allclose(site, model.local_field(s), rtol=1e-6, atol=1e-6)


def test_disorder_replicas_by_vmapping_the_constructor():
    couplings = jnp.array([0.5, 1.0, 2.0])
    models = eqx.filter_vmap(lambda J: Ising((4, 4), J=J))(couplings)
    up = jnp.ones((4, 4), jnp.int8)
    energies = eqx.filter_vmap(lambda m: m.energy(up))(models)
    np.testing.assert_allclose(energies, -32 * couplings)


def test_bad_input_gives_clear_errors():
    model = Ising((4, 4))
    with pytest.raises(TypeError, match="int8"):
        model.check_spins(jnp.ones((4, 4), jnp.float32))
    with pytest.raises(ValueError, match="shape"):
        model.check_spins(jnp.ones((4, 5), jnp.int8))
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        model.check_spins(jnp.zeros((4, 4), jnp.int8))
    with pytest.raises(ValueError, match=">= 2"):
        Ising((1, 4))
    with pytest.raises(ValueError, match="NaN"):
        Ising((4, 4), J=float("nan"))
    with pytest.raises(ValueError, match="broadcast"):
        Ising((4, 4), h=np.ones(3))
    with pytest.raises(ValueError, match="symmetric"):
        PairwiseIsing(np.triu(np.ones((3, 3)), 1))
    with pytest.raises(ValueError, match="diagonal"):
        PairwiseIsing(np.ones((3, 3)))
    with pytest.raises(ValueError, match="square"):
        PairwiseIsing(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        PairwiseIsing(np.full((2, 2), np.nan))


def test_construction_and_checks_work_under_jit_with_closed_over_constants():
    """Value checks use numpy on concrete values, so closing over constants inside jit works."""
    spins = jnp.ones((4, 4), jnp.int8)
    J = np.triu(np.ones((3, 3)), 1)
    energy = jax.jit(lambda: Ising((4, 4), J=0.5).energy(spins) + PairwiseIsing(J + J.T).energy(jnp.ones(3, jnp.int8)))()
    assert float(energy) == pytest.approx(-16.0 - 3.0)
