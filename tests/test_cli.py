"""`jaxphys demo` (the main job) and the command line."""

import json

import numpy as np

from jaxphys import cli


def test_demo_quick_writes_figure_and_sensible_physics(tmp_path, capsys):
    out = tmp_path / "demo"
    code = cli.main(["demo", "--quick", "--out", str(out), "--no-progress"])
    assert code == 0
    assert (out / "phase_transition.png").stat().st_size > 10_000
    record = json.loads((out / "results.json").read_text())
    assert abs(record["onsager_critical_temperature"] - 2 / np.log(1 + np.sqrt(2))) < 1e-6
    for size, curve in record["curves"].items():
        binder = np.array(curve["binder"])
        chi = np.array(curve["susceptibility"])
        assert np.all(np.array(curve["binder_err"]) < 0.2), size
        assert binder[0] > binder[-1], size  # ordered (2/3) at low T, disordered (-> 0) at high T
        assert np.all(chi > 0) and np.all(np.array(curve["susceptibility_err"]) < chi), size
        assert np.all(np.array(curve["energy"]) < 0), size
    # the larger lattice's susceptibility is larger near T_c (chi ~ L^{7/4})
    temps = np.array(record["temperatures"])
    near = np.argmin(np.abs(temps - record["onsager_critical_temperature"]))
    assert record["curves"]["8"]["susceptibility"][near] > record["curves"]["4"]["susceptibility"][near]
    assert "T_c estimate" in capsys.readouterr().out


def test_cli_usage_and_unknown_command(capsys):
    assert cli.main([]) == 0
    assert "demo" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2
