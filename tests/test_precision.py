"""Monte Carlo of the periodic 2D Ising model at beta_c against exact finite-lattice values.

- L = 4, 8: energy and <m^2> from the checkerboard sampler within 3 error bars of the transfer
  matrix (false-failure rate 0.27% per comparison for a random seed if the error bars are right).
- L = 16: a high-statistics run (64 chains x 50000 sweeps, 8e8 spin updates) whose energy must
  agree with Kaufman's exact value within 3 error bars AND to a relative error below 1e-3. This
  is the kind of test that exposed correlated random numbers in cluster Monte Carlo (Ferrenberg,
  Landau & Wong, PRL 69, 3382 (1992)); its error bar (~3.5e-4, 2.4e-4 relative) resolves biases
  of a few 1e-4 in the acceptance probabilities.
The seeds are fixed, so the outcome is deterministic.
"""

import jax
import pytest

from jaxphys import mc, observables, status
from jaxphys.exact import closed_forms
from jaxphys.exact.transfer_matrix import ising_2d
from jaxphys.models import Ising

BETA_C = float(closed_forms.onsager_critical_beta())
HARD_ERRORS = ~int(status.Status.UNRELIABLE_ERROR)


def pooled_run(key, sampler, model, beta, num_chains, num_sweeps, obs=None):
    runs = jax.jit(
        lambda k: jax.vmap(lambda kk: mc.run(kk, sampler, model, beta, num_sweeps, burn_in=1000, observables=obs))(
            jax.random.split(k, num_chains)
        )
    )(key)
    return mc.combine(runs)


# every (rule, generator) at L = 4; at L = 8 the default generator runs by default, the others with -m slow
_SLOW = pytest.mark.slow
CASES = [(4, rule, gen) for rule in ("metropolis", "heatbath") for gen in ("threefry", "philox", "threefry_fused")] + [
    pytest.param(8, rule, gen, marks=() if gen == "threefry_fused" else _SLOW)
    for rule in ("metropolis", "heatbath")
    for gen in ("threefry", "philox", "threefry_fused")
]


@pytest.mark.parametrize("L, rule, generator", CASES)
def test_checkerboard_at_beta_c_matches_transfer_matrix(L, rule, generator):
    ref = ising_2d(L, BETA_C)
    result = pooled_run(jax.random.key(L), mc.checkerboard(rule=rule, generator=generator), Ising((L, L)), BETA_C, 16, 8000)
    assert int(result.status) & HARD_ERRORS == 0
    for name in ("energy", "m2"):
        mean, err, exact = float(result.mean[name]), float(result.stderr[name]), getattr(ref, name)
        assert abs(mean - exact) < 3 * err, f"L={L} {name}: {mean} +- {err} vs {exact}"


# the default generator runs by default (the suite's time budget); the others with -m slow
@pytest.mark.parametrize("generator", [pytest.param("threefry", marks=_SLOW), pytest.param("philox", marks=_SLOW), "threefry_fused"])
def test_high_statistics_L16_energy(generator):
    exact = float(closed_forms.kaufman_energy(16, BETA_C))
    result = pooled_run(
        jax.random.key(2024), mc.checkerboard(generator=generator), Ising((16, 16)), BETA_C, 64, 50_000,
        obs={"energy": observables.energy},
    )
    assert int(result.status) & HARD_ERRORS == 0
    mean, err = float(result.mean["energy"]), float(result.stderr["energy"])
    assert abs(mean - exact) < 3 * err, f"{mean} +- {err} vs Kaufman {exact}"
    assert abs(mean - exact) / abs(exact) < 1e-3
    assert err / abs(exact) < 3.4e-4  # the test has the resolution it claims
