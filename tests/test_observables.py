"""Derived thermodynamic quantities against exact references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import exact, observables
from jaxphys.exact.transfer_matrix import ising_2d
from jaxphys.models import Ising


@pytest.mark.parametrize("beta", [0.2, 0.44, 0.7])
def test_specific_heat_and_binder_from_exact_moments(beta):
    model = Ising((4, 4))
    avg = exact.averages(model, beta)
    ref = ising_2d(4, beta)
    c = observables.specific_heat(beta, 16, avg["energy"], avg["energy2"])
    np.testing.assert_allclose(c, ref.specific_heat, rtol=2e-3)
    # fluctuation-dissipation: C = -beta^2 d<e>/dbeta, by autodiff through enumeration
    de = jax.grad(lambda b: exact.averages(model, b)["energy"])(jnp.float32(beta))
    np.testing.assert_allclose(c, -(beta**2) * de, rtol=2e-3)
    u = observables.binder_cumulant(avg["m2"], avg["m4"])
    np.testing.assert_allclose(u, 1 - ref.m4 / (3 * ref.m2**2), rtol=1e-4)


def test_binder_cumulant_limits():
    assert float(observables.binder_cumulant(1.0, 1.0)) == pytest.approx(2 / 3)  # ordered: m = +-1
    assert float(observables.binder_cumulant(1.0, 3.0)) == pytest.approx(0.0)  # Gaussian: <m^4> = 3<m^2>^2


def test_susceptibility_is_the_field_derivative_of_magnetization_at_high_temperature():
    """Above T_c on a small lattice <|m|>^2 is not <m>^2, so compare the m^2 form with d<m>/dh.

    chi_h = d<m>/dh at h = 0 equals beta N <m^2> (fluctuation-dissipation); observables.susceptibility
    with abs_m = 0 reduces to that.
    """
    beta = 0.25
    dm_dh = jax.grad(lambda h: exact.averages(Ising((3, 3), h=h), beta)["magnetization"])(0.0)
    avg = exact.averages(Ising((3, 3)), beta)
    np.testing.assert_allclose(observables.susceptibility(beta, 9, avg["m2"], 0.0), dm_dh, rtol=1e-4)
