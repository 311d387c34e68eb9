"""``jaxphys sweep CONFIG.toml``: config validation, a small run against exact enumeration, resume."""

import io
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxphys import sweep
from jaxphys.exact import enumeration
from jaxphys.models import Ising
from jaxphys.sweep.config import ConfigError, load_config, main, run_config, validate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

SMALL = """
[model]
name = "ising"
sizes = [4]
J = 1.0

[sampler]
name = "checkerboard"

[run]
num_sweeps = 400
burn_in = 100
observables = ["energy", "m2"]

[grid]
T = [2.0, 3.0]

[sweep]
replicas = 8
chunk_size = 8
output = "{output}"
"""


@pytest.mark.parametrize("name", ["sweep_ising.toml", "sweep_sk.toml"])
def test_example_configs_are_valid(name):
    config = load_config(EXAMPLES / name)
    assert config["sweep"]["replicas"] >= 2 and config["grid"]


def test_small_ising_sweep_matches_enumeration_and_resumes(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(output=(tmp_path / "out").as_posix()))
    assert main([str(path), "--no-progress"]) == 0
    out = tmp_path / "out"
    for name in ("L4.npz", "L4.json", "summary.txt", "energy.png", "m2.png"):
        assert (out / name).exists(), name
    result = sweep.load(out / "L4")
    assert result.axes == ("T", "replica")
    mean, err = result.field("observables/energy"), result.field("observables/energy", "stderr")
    model = Ising((4, 4))
    for i, t in enumerate([2.0, 3.0]):
        exact = enumeration.averages(model, 1.0 / t, {"e": lambda m, s: m.energy(s) / 16})["e"]
        # 8 independent chains: the replica stderr is a t-distribution with 7 dof; 5 sigma ->
        # false-failure rate ~ 2e-3 per point
        assert abs(mean[i] - float(exact)) < 5 * err[i] + 1e-6, (t, mean[i], err[i], exact)
    # second run: every chunk comes back from the checkpoint, nothing is recomputed
    again = run_config(load_config(path), progress=False, out=io.StringIO())["L4"]
    assert again.info["chunks_computed"] == 0 and again.info["chunks_loaded"] == again.info["num_chunks"]
    np.testing.assert_array_equal(again.field("observables/energy", "values"), result.field("observables/energy", "values"))


def test_sk_dense_config_runs(tmp_path):
    config = validate(
        {
            "model": {"name": "sk", "sizes": [16], "J0": 0.0},
            "sampler": {"name": "dense", "block_size": 8},
            "run": {"num_sweeps": 50, "observables": ["energy"]},
            "grid": {"T": [1.5, 3.0]},
            "sweep": {"replicas": 4, "output": str(tmp_path / "sk")},
        }
    )
    result = run_config(config, progress=False, out=io.StringIO())["N16"]
    e = result.field("observables/energy")
    assert e.shape == (2,) and e[0] < e[1] < 0  # paramagnet e ~ -beta/2: lower at lower T


BAD = [
    ({"model": {"name": "potts", "sizes": [4]}}, "name"),
    ({"model": {"name": "ising", "sizes": [1]}}, "sizes"),
    ({"sampler": {"name": "hmc"}}, "sampler"),
    ({"sampler": {"name": "metropolis", "scan": "diagonal"}}, "scan"),
    ({"run": {"num_sweeps": 1}}, "num_sweeps"),
    ({"run": {"num_sweeps": 10, "observables": ["entropy"]}}, "observables"),
    ({"grid": {"T": []}}, "non-empty"),
    ({"grid": {"T": [2.0, float("nan")]}}, "non-finite"),
    ({"grid": {"T": [-1.0]}}, "T must be > 0"),
    ({"grid": {"T": [2.0], "J0": [0.1]}}, "not parameters"),
    ({"grid": {"h": [0.0, 0.1]}}, "exactly one of T or beta"),
    ({"sweep": {"replicas": 0}}, "replicas"),
    ({"extra": {}}, "unknown section"),
]


@pytest.mark.parametrize("change,match", BAD)
def test_bad_configs_say_what_to_fix(change, match):
    config = {
        "model": {"name": "ising", "sizes": [4]},
        "sampler": {"name": "metropolis"},
        "run": {"num_sweeps": 10},
        "grid": {"T": [2.0]},
        "sweep": {},
    }
    config.update(change)
    with pytest.raises(ConfigError, match=match):
        validate(config)


def test_checkerboard_needs_ising_and_cli_reports_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="checkerboard"):
        validate({"model": {"name": "sk", "sizes": [8]}, "sampler": {"name": "checkerboard"}, "run": {"num_sweeps": 10}, "grid": {"T": [1.0]}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nname = 'ising'\n")
    assert main([str(bad)]) == 2
    assert "sizes" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.toml")]) == 2


def test_swept_monte_carlo_derivative_matches_enumeration():
    """jax.grad inside a sweep: d<e>/dbeta of the 3x3 Ising model from the custom_jvp estimator,
    over a beta grid and 8 replicas, against jax.grad of the exact average (5 sigma of the
    replica spread: false-failure rate ~ 1e-3 per point for a t-distribution with 7 dof)."""
    from jaxphys import mc
    from jaxphys.observables import response
    from jaxphys.observables.thermodynamic import STANDARD

    model = Ising((3, 3))

    def fn(key, point):
        value, slope = jax.value_and_grad(
            lambda b: response.average(key, mc.metropolis(), model, b, STANDARD["energy"], 1000)
        )(point["beta"])
        return {"e": value, "de_dbeta": slope}

    result = sweep.run(fn, {"beta": np.array([0.2, 0.4])}, key=jax.random.key(3), replicas=8, progress=False)
    for i, beta in enumerate([0.2, 0.4]):
        exact = jax.grad(lambda b: enumeration.averages(model, b, {"e": STANDARD["energy"]})["e"])(beta)
        mean, err = result.mean["de_dbeta"][i], result.stderr["de_dbeta"][i]
        assert abs(mean - float(exact)) < 5 * err + 1e-4, (beta, mean, err, float(exact))
        assert err < 0.1 * abs(float(exact))  # the check has power
