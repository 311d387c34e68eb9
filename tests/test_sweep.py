"""The sweep engine: invariance to chunking/devices/processes, checkpoint resume, physics, files, errors.

Bitwise comparisons use the shared sweep of ``tests/_sweep_worker.py`` (10 points x 3 replicas).
Subprocess tests run the worker with ``JAX_PLATFORMS=cpu`` (4 forced host devices, or two
``jax.distributed`` processes on localhost).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import exact, mc, status as st, sweep
from jaxphys.models import Ising

_WORKER_PATH = os.path.join(os.path.dirname(__file__), "_sweep_worker.py")
_spec = importlib.util.spec_from_file_location("_sweep_worker", _WORKER_PATH)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


def reference(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the shared fn flags some items on purpose
        return sweep.run(
            worker.sweep_fn, worker.GRID, key=jax.random.key(worker.KEY_SEED), replicas=worker.REPLICAS, progress=False, **kwargs
        )


@pytest.fixture(scope="module")
def ref():
    return reference(chunk_size=worker.CHUNK_SIZE)


def assert_bitwise(a: sweep.SweepResult, b: sweep.SweepResult):
    assert a.fields == b.fields and a.axes == b.axes
    for f in a.fields:
        va, vb = a.field(f, "values"), b.field(f, "values")
        assert va.dtype == vb.dtype and va.shape == vb.shape, f
        assert va.tobytes() == vb.tobytes(), f"field {f} differs"


def worker_env(**extra):
    env = dict(os.environ, JAX_PLATFORMS="cpu", **extra)
    env.pop("XLA_FLAGS", None)
    env.update(extra)
    return env


def run_worker(args, env, timeout=120):
    proc = subprocess.run([sys.executable, _WORKER_PATH, *args], env=env, capture_output=True, text=True, timeout=timeout)
    return proc


# --- layout and invariance --------------------------------------------------------------------


def test_axes_shapes_and_order(ref):
    assert ref.axes == ("x", "scale", "replica")
    assert ref.shape == (5, 2) and ref.replicas == 3
    assert ref.values["y"].shape == (5, 2, 3, 6)
    assert ref.mean["y"].shape == (5, 2, 6) and ref.stderr["total"].shape == (5, 2)
    # item (i, j, r) is fn at point (x_i, scale_j) with key fold_in(key, (2 i + j) * 3 + r)
    key = jax.random.key(worker.KEY_SEED)
    for i, j, r in [(0, 0, 0), (3, 1, 2), (4, 1, 1)]:
        point = {"x": jnp.float32(worker.GRID["x"][i]), "scale": jnp.float32(worker.GRID["scale"][j])}
        direct = jax.jit(worker.sweep_fn)(jax.random.fold_in(key, (2 * i + j) * 3 + r), point)
        np.testing.assert_allclose(ref.values["y"][i, j, r], direct["y"], rtol=1e-6)
    values = ref.values["total"].astype(np.float64)  # means are taken in float64
    np.testing.assert_allclose(ref.mean["total"], values.mean(axis=2), rtol=1e-12)
    np.testing.assert_allclose(ref.stderr["total"], values.std(axis=2, ddof=1) / np.sqrt(3), rtol=1e-12)
    assert ref.info["compilations"] in (0, 1, -1)  # 0: compiled by an earlier test; -1: counter unavailable
    assert reference(chunk_size=worker.CHUNK_SIZE).info["compilations"] in (0, -1)  # the same sweep again: no compile


@pytest.mark.parametrize("chunk_size", [1, 7, None])
def test_bitwise_independent_of_chunk_size(ref, chunk_size):
    result = reference(chunk_size=chunk_size)
    assert result.info["num_chunks"] == -(-30 // (chunk_size or 30))
    assert result.info["compilations"] in (0, 1, -1)  # at most one: the last chunk is padded
    assert_bitwise(ref, result)


def test_list_of_points_grid():
    points = [{"x": 0.0, "scale": 0.5}, {"x": 3.0, "scale": 1.5}, {"x": 4.0, "scale": 1.5}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = sweep.run(worker.sweep_fn, points, key=jax.random.key(worker.KEY_SEED), replicas=3, progress=False)
        product = reference()
    assert result.axes == ("point", "replica") and result.shape == (3,)
    np.testing.assert_array_equal(result.coords["scale"], [0.5, 1.5, 1.5])
    # point p of the list uses global indices 3 p + r: point 0 equals the product grid's (0, 0)
    assert result.values["y"][0].tobytes() == product.values["y"][0, 0].tobytes()


# --- devices and processes --------------------------------------------------------------------


def test_four_devices_bitwise(tmp_path, ref):
    out = str(tmp_path / "four")
    proc = run_worker(["devices", out, "6"], worker_env(XLA_FLAGS="--xla_force_host_platform_device_count=4"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = sweep.load(out)
    assert result.info["num_devices"] == 4
    assert result.info["chunk_size"] == 8 and result.info["num_chunks"] == 4  # 6 rounded up to a multiple of 4
    assert_bitwise(ref, result)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_process_distributed_bitwise(tmp_path, ref):
    out, ckpt = str(tmp_path / "dist"), str(tmp_path / "dist_ckpt")
    port = str(free_port())
    env = worker_env(XLA_FLAGS="--xla_force_host_platform_device_count=1")
    procs = [
        subprocess.Popen([sys.executable, _WORKER_PATH, "distributed", str(pid), port, out, ckpt], env=env, stderr=subprocess.PIPE, text=True)
        for pid in (0, 1)
    ]
    try:
        errors = [p.communicate(timeout=120)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, err in zip(procs, errors):
        assert p.returncode == 0, err[-3000:]
    results = [sweep.load(f"{out}_{pid}") for pid in (0, 1)]
    # 8 chunks round robin: each process computed 4 and returned all of them
    assert [r.info["chunks_computed"] for r in results] == [4, 4]
    for r in results:
        assert r.info["num_processes"] == 2
        assert_bitwise(ref, r)
    # both processes wrote their own chunks into the shared checkpoint; one process resumes all
    assert len([f for f in os.listdir(ckpt) if f.startswith("chunk_")]) == 8
    resumed = reference(chunk_size=worker.CHUNK_SIZE, checkpoint=ckpt)
    assert resumed.info["chunks_loaded"] == 8 and resumed.info["chunks_computed"] == 0
    assert_bitwise(ref, resumed)


# --- checkpoints --------------------------------------------------------------------------------


def test_kill_and_resume(tmp_path, ref):
    ckpt = str(tmp_path / "ckpt")
    # items are ordered (x, scale, replica): x = 2 first appears at item 2 * 2 * 3 = 12, in chunk
    # 12 // 4 = 3, so chunks 0, 1, 2 are on disk when the process dies.
    proc = run_worker(["kill", ckpt, "2"], worker_env(XLA_FLAGS="--xla_force_host_platform_device_count=1"))
    assert proc.returncode == 17, proc.stderr[-3000:]
    files = sorted(f for f in os.listdir(ckpt) if f.startswith("chunk_"))
    assert files == ["chunk_000000.npz", "chunk_000001.npz", "chunk_000002.npz"]
    assert not [f for f in os.listdir(ckpt) if f.startswith(".tmp")]  # atomic writes leave no partial file
    resumed = reference(chunk_size=worker.CHUNK_SIZE, checkpoint=ckpt)
    assert resumed.info["chunks_loaded"] == 3 and resumed.info["chunks_computed"] == 5
    assert_bitwise(ref, resumed)
    again = reference(chunk_size=worker.CHUNK_SIZE, checkpoint=ckpt)
    assert again.info["chunks_computed"] == 0 and again.info["chunks_loaded"] == 8
    assert_bitwise(ref, again)


def test_resume_after_exception_skips_finished_chunks(tmp_path, ref):
    ckpt = str(tmp_path / "ckpt")
    calls = []

    def record(x):
        calls.append(np.asarray(x).copy())
        if np.any(np.asarray(x) >= 3):
            raise RuntimeError("simulated failure")

    def failing(key, point):
        jax.debug.callback(record, point["x"])
        return worker.sweep_fn(key, point)

    with pytest.raises(Exception, match="simulated failure"):
        sweep.run(failing, worker.GRID, key=jax.random.key(worker.KEY_SEED), replicas=3, chunk_size=4, checkpoint=ckpt, progress=False)
    # x = 3 first appears at item 18, chunk 4: chunks 0-3 finished
    assert len([f for f in os.listdir(ckpt) if f.startswith("chunk_")]) == 4
    calls.clear()

    def counting(key, point):
        jax.debug.callback(lambda x: calls.append(np.asarray(x).copy()), point["x"])
        return worker.sweep_fn(key, point)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        resumed = sweep.run(counting, worker.GRID, key=jax.random.key(worker.KEY_SEED), replicas=3, chunk_size=4, checkpoint=ckpt, progress=False)
    assert resumed.info["chunks_computed"] == 4
    seen = np.concatenate([np.atleast_1d(c) for c in calls])
    assert seen.min() >= 2  # items of the finished chunks (x < 2 only in chunks 0-2, x = 2 partly in 3) were not recomputed
    assert_bitwise(ref, resumed)


def test_checkpoint_with_other_settings_raises(tmp_path):
    ckpt = str(tmp_path / "ckpt")
    reference(chunk_size=10, checkpoint=ckpt)
    with pytest.raises(ValueError, match="replicas"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sweep.run(worker.sweep_fn, worker.GRID, key=jax.random.key(worker.KEY_SEED), replicas=2, chunk_size=10, checkpoint=ckpt)
    with pytest.raises(ValueError, match="chunk_size"):
        reference(chunk_size=5, checkpoint=ckpt)
    with pytest.raises(ValueError, match="key"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sweep.run(worker.sweep_fn, worker.GRID, key=jax.random.key(7), replicas=3, chunk_size=10, checkpoint=ckpt)
    grid = dict(worker.GRID, x=worker.GRID["x"] + 1e-9)
    with pytest.raises(ValueError, match="grid"):
        sweep.run(worker.sweep_fn, grid, key=jax.random.key(worker.KEY_SEED), replicas=3, chunk_size=10, checkpoint=ckpt)
    with pytest.raises(ValueError, match="outputs changed"):
        sweep.run(
            lambda k, p: {"other": p["x"]}, worker.GRID, key=jax.random.key(worker.KEY_SEED), replicas=3, chunk_size=10, checkpoint=ckpt
        )


# --- status ---------------------------------------------------------------------------------------


def test_status_is_ored_and_bad_items_counted(ref):
    flagged = ref.values["status"] != 0  # z[0] > 1.5 for a standard normal: ~7% of the 30 items
    assert 0 < flagged.sum() < 30  # the fixed seed flags some items, not all
    assert ref.num_bad == int(flagged.sum())
    np.testing.assert_array_equal(ref.bad, flagged)
    np.testing.assert_array_equal(ref.status, np.where(flagged.any(axis=-1), int(st.Status.NAN), 0))
    np.testing.assert_array_equal(ref.mean["status"], ref.status)
    assert np.isfinite(ref.mean["total"]).all()  # the bad replicas did not stop or poison the sweep
    with pytest.warns(RuntimeWarning, match="bad item"):
        sweep.run(worker.sweep_fn, worker.GRID, key=jax.random.key(worker.KEY_SEED), replicas=3, progress=False)


def test_nan_in_one_replica_stays_local():
    def fn(key, point):
        u = jax.random.uniform(key)
        value = jnp.where(u < 0.2, jnp.nan, u)
        return {"u": value, "status": st.flag(st.ok(), st.Status.NAN, jnp.isnan(value))}

    with pytest.warns(RuntimeWarning):
        result = sweep.run(fn, {"a": np.arange(6.0)}, key=jax.random.key(3), replicas=4, progress=False)
    bad_points = result.bad.any(axis=1)
    assert 0 < bad_points.sum() < 6
    assert np.isnan(result.mean["u"][bad_points]).all()  # NaN is reported, not hidden
    assert np.isfinite(result.mean["u"][~bad_points]).all()


# --- physics ------------------------------------------------------------------------------------


def test_ising_sweep_matches_enumeration():
    """3x3 periodic Ising, Metropolis chains over beta: replica means against exact enumeration.

    16 independent replicas per beta; |mean - exact| < 5 stderr with stderr from the replica
    scatter (Student t, 15 d.o.f.): false-failure rate ~1.6e-4 per comparison, < 1e-3 for the 6.
    """
    model = Ising((3, 3))
    betas = np.array([0.1, 0.3, 0.5])

    def fn(key, point):
        r = mc.run(key, mc.metropolis(), model, point["beta"], 400, burn_in=100, num_bins=16)
        advisory = jnp.int32(int(st.Status.UNRELIABLE_ERROR))
        return {"energy": r.mean["energy"], "m2": r.mean["m2"], "status": r.status & ~advisory}

    result = sweep.run(fn, {"beta": betas}, key=jax.random.key(11), replicas=16, chunk_size=16, progress=False)
    assert result.num_bad == 0
    for i, beta in enumerate(betas):
        ref = exact.averages(model, beta)
        for name in ("energy", "m2"):
            mean, err = result.mean[name][i], result.stderr[name][i]
            assert 0 < err < 0.05, (name, beta, err)
            assert abs(mean - float(ref[name])) < 5 * err, (name, beta, mean, err, float(ref[name]))


# --- files and plots ------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path, ref):
    npz, sidecar = ref.save(tmp_path / "sub" / "result")
    loaded = sweep.load(npz)
    assert_bitwise(ref, loaded)
    assert loaded.axes == ref.axes and loaded.num_bad == ref.num_bad and loaded.info == ref.info
    for f in ref.fields:
        np.testing.assert_array_equal(loaded.field(f), ref.field(f))
        np.testing.assert_array_equal(loaded.field(f, "stderr"), ref.field(f, "stderr"))
    assert set(loaded.mean) == {"y", "total", "count", "status"}
    np.testing.assert_array_equal(loaded.status, ref.status)
    # readable with numpy and json alone
    with np.load(npz) as data, open(sidecar) as f:
        meta = json.load(f)
        assert meta["axes"] == ["x", "scale", "replica"] and meta["shape"] == [5, 2, 3]
        np.testing.assert_array_equal(data["values/total"], ref.values["total"])
        np.testing.assert_array_equal(data["coords/x"], worker.GRID["x"])
    # nested outputs and a bare array output
    nested = sweep.run(lambda k, p: {"a": {"b": p["t"] * 2}, "c": [p["t"], p["t"] + 1]}, {"t": [1.0, 2.0]}, key=jax.random.key(0), progress=False)
    nested.save(tmp_path / "nested")
    back = sweep.load(tmp_path / "nested.json")
    np.testing.assert_array_equal(back.mean["a"]["b"], [2.0, 4.0])
    np.testing.assert_array_equal(back.values["c"][1][:, 0], [2.0, 3.0])
    bare = sweep.run(lambda k, p: p["t"], {"t": [1.0, 2.0]}, key=jax.random.key(0), replicas=2, progress=False)
    assert bare.fields == ["value"]
    bare.save(tmp_path / "bare")
    np.testing.assert_array_equal(sweep.load(tmp_path / "bare").mean, [1.0, 2.0])


def test_plots_write_png(tmp_path, ref):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = ref.plot("total", x="x")  # curves against x, one per scale
    assert len(ax.lines) >= 2 and len(ax.get_legend().get_texts()) == 2
    ax.figure.savefig(tmp_path / "curves.png")
    ax = ref.plot("total")  # two axes: phase diagram over (x, scale)
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "scale" and len(ax.collections) == 1
    ax.figure.savefig(tmp_path / "phase.png")
    one_d = sweep.run(lambda k, p: {"s": jnp.sin(p["t"])}, {"t": np.linspace(0, 3, 5)}, key=jax.random.key(0), progress=False)
    ax = one_d.plot("s")
    ax.figure.savefig(tmp_path / "one_d.png")
    points = [{"t": 0.0, "u": 1.0}, {"t": 1.0, "u": 0.0}, {"t": 2.0, "u": 2.0}]
    listed = sweep.run(lambda k, p: {"s": p["t"] * p["u"]}, points, key=jax.random.key(0), replicas=2, progress=False)
    listed.plot("s", x="u").figure.savefig(tmp_path / "points.png")
    listed.plot("s", x="t", y="u").figure.savefig(tmp_path / "points_2d.png")
    for name in ("curves.png", "phase.png", "one_d.png", "points.png", "points_2d.png"):
        assert (tmp_path / name).stat().st_size > 1000
    with pytest.raises(ValueError, match="scalar field"):
        ref.plot("y")
    with pytest.raises(ValueError, match="unknown axis"):
        ref.plot("total", x="beta")
    with pytest.raises(KeyError, match="fields are"):
        ref.plot("nope")
    plt.close("all")


# --- bad input ------------------------------------------------------------------------------------


def ok_fn(key, point):
    return {"v": point["a"] * jax.random.normal(key)}


@pytest.mark.parametrize(
    "grid, error, match",
    [
        ({}, ValueError, "empty"),
        ({"a": []}, ValueError, "empty"),
        ({"a": [1.0, np.nan]}, ValueError, "NaN"),
        ({"a": [[1.0, 2.0]]}, ValueError, "1-D"),
        ({"a": 1.0}, ValueError, "1-D"),
        ({"a": ["x", "y"]}, TypeError, "numbers"),
        ({"replica": [1.0]}, ValueError, "reserved"),
        ([{"a": 1.0}, {"b": 2.0}], ValueError, "same names"),
        ([], ValueError, "empty"),
        ([{"a": 1.0}, {"a": np.nan}], ValueError, "NaN"),
        ("a", TypeError, "dict"),
    ],
)
def test_bad_grid_raises(grid, error, match):
    with pytest.raises(error, match=match):
        sweep.run(ok_fn, grid, key=jax.random.key(0), progress=False)


def test_bad_arguments_raise():
    grid = {"a": [1.0, 2.0]}
    with pytest.raises(ValueError, match="replicas"):
        sweep.run(ok_fn, grid, key=jax.random.key(0), replicas=0)
    with pytest.raises(TypeError, match="replicas"):
        sweep.run(ok_fn, grid, key=jax.random.key(0), replicas=2.0)
    with pytest.raises(ValueError, match="chunk_size"):
        sweep.run(ok_fn, grid, key=jax.random.key(0), chunk_size=0)
    with pytest.raises(TypeError, match="key"):
        sweep.run(ok_fn, grid, key=0)
    with pytest.raises(ValueError, match="single key"):
        sweep.run(ok_fn, grid, key=jax.random.split(jax.random.key(0), 2))
    with pytest.raises(TypeError, match="callable"):
        sweep.run("fn", grid, key=jax.random.key(0))
    with pytest.raises(ValueError, match="local device"):
        sweep.run(ok_fn, grid, key=jax.random.key(0), devices=len(jax.local_devices()) + 1)


def test_bad_fn_outputs_raise():
    grid = {"n": [2, 3]}
    with pytest.raises(TypeError, match="str"):
        sweep.run(lambda k, p: {"v": p["n"], "label": "x"}, grid, key=jax.random.key(0), progress=False)
    with pytest.raises(ValueError, match="output shapes must be the same at every point"):
        sweep.run(lambda k, p: {"v": jnp.zeros(int(p["n"]))}, grid, key=jax.random.key(0), progress=False)
    with pytest.raises(ValueError, match="no arrays"):
        sweep.run(lambda k, p: {}, grid, key=jax.random.key(0), progress=False)
