"""Block Gibbs sampling of a dense RBM (Nv + Nh = 1024 units, 256 replicas): spin updates per ns.

Model: ``RBM.random(Nv, Nh, scale=1, bias_scale=0.1)`` with +-1 hidden units at ``beta = 1``; one
step redraws every hidden unit given the visible ones and then every visible unit, so a step
of R replicas is R (Nv + Nh) spin updates and two (R, Nv) x (Nv, Nh) matrix products.

Rows (all from the same random start, ``--steps`` steps per timed run):

- numpy reference: the R replicas as float32 (R, Nv) and (R, Nh) matrices, ``V @ W`` and
  ``H @ W.T`` (BLAS sgemm), float32 uniforms from ``numpy.random.Generator``,
  ``u < 1 / (1 + exp(-2 beta x))``.
- jaxphys ``mc.block_gibbs`` vmapped over the R replicas (XLA turns the per-replica
  matrix-vector products into matrix products), the steps in one ``jax.jit`` with ``lax.scan``,
  threefry keys split per replica.
- jaxphys ``mc.block_gibbs`` on one replica (matrix-vector products), for contrast.

Each row reports the best of ``--repeats`` timings as spin updates per ns (process CPU time and
wall time) and the ratio to the numpy reference, plus the mean joint energy per unit of the
final states (both samplers draw from the same law, so these agree within noise after enough
steps). By default the process is pinned to one core and XLA/BLAS are single-threaded
(``--cpu 0``, as in ``ising_checkerboard.py``); ``--cpu -1`` leaves affinity and threading alone.

    python benchmarks/dense_updates.py            # Nv = Nh = 512, R = 256; JSON to benchmarks/results/
    python benchmarks/dense_updates.py --quick    # Nv = Nh = 64, R = 16, seconds, for CI
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import pin_to_one_core  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "dense_updates.json"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visible", type=int, default=512, help="visible units Nv")
    parser.add_argument("--hidden", type=int, default=512, help="hidden units Nh")
    parser.add_argument("--replicas", type=int, default=256, help="replicas R updated together")
    parser.add_argument("--steps", type=int, default=20, help="block Gibbs steps per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (the best is kept)")
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to; -1 to leave affinity alone")
    parser.add_argument("--quick", action="store_true", help="Nv = Nh = 64, R = 16, 4 steps, 2 repeats")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON file for the results")
    args = parser.parse_args(argv)
    if args.quick:
        args.visible, args.hidden, args.replicas, args.steps, args.repeats = 64, 64, 16, 4, 2
    return args


def best_time(fn, repeats: int):
    """(best CPU seconds, best wall seconds, last output) over ``repeats`` calls of ``fn()``."""
    cpu_best = wall_best = float("inf")
    out = None
    for _ in range(repeats):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        out = fn()
        cpu_best = min(cpu_best, time.process_time() - cpu0)
        wall_best = min(wall_best, time.perf_counter() - wall0)
    return cpu_best, wall_best, out


def main(argv=None) -> dict:
    args = parse_args(argv)
    pin_to_one_core(args.cpu)
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxphys import mc
    from jaxphys.models import RBM

    nv, nh, replicas, steps, beta = args.visible, args.hidden, args.replicas, args.steps, args.beta
    model = RBM.random(nv, nh, key=jax.random.key(0), scale=1.0, bias_scale=0.1)
    W = np.asarray(model.weights, np.float32)
    a = np.asarray(model.visible_bias, np.float32)
    b = np.asarray(model.hidden_bias, np.float32)
    start = np.asarray(jax.vmap(lambda k: mc.random_spins(k, (nv + nh,)))(jax.random.split(jax.random.key(1), replicas)))

    def joint_energy_per_unit(v, h):
        v, h = v.astype(np.float64), h.astype(np.float64)
        e = -np.einsum("ri,ij,rj->r", v, W.astype(np.float64), h) - v @ a - h @ b
        return float(np.mean(e) / (nv + nh))

    # ---------------------------------------------------------------- numpy reference
    rng = np.random.default_rng(2)

    def numpy_block_gibbs():
        v = start[:, :nv].astype(np.float32)
        h = start[:, nv:].astype(np.float32)
        for _ in range(steps):
            x = v @ W + b
            h = np.where(rng.random(x.shape, np.float32) < 1 / (1 + np.exp(-2 * beta * x)), 1.0, -1.0).astype(np.float32)
            y = h @ W.T + a
            v = np.where(rng.random(y.shape, np.float32) < 1 / (1 + np.exp(-2 * beta * y)), 1.0, -1.0).astype(np.float32)
        return v, h

    # ---------------------------------------------------------------- jaxphys
    sampler = mc.block_gibbs()

    @jax.jit
    def jax_block_gibbs(key, spins, model, beta):
        states = jax.vmap(sampler.init, in_axes=(None, 0))(model, spins)

        def body(states, k):
            keys = jax.random.split(k, spins.shape[0])
            return jax.vmap(sampler.step, in_axes=(0, 0, None, None))(keys, states, model, beta)[0], None

        return jax.lax.scan(body, states, jax.random.split(key, steps))[0]

    rows = []

    def record(name, count, fn, final):
        fn()  # warm-up: compilation, caches
        cpu, wall, out = best_time(fn, args.repeats)
        v, h = final(out)
        updates = count * (nv + nh) * steps
        row = {
            "name": name,
            "replicas": count,
            "seconds_cpu": cpu,
            "seconds_wall": wall,
            "updates_per_ns": updates / cpu / 1e9,
            "updates_per_ns_wall": updates / wall / 1e9,
            "final_energy_per_unit": joint_energy_per_unit(v, h),
        }
        rows.append(row)
        print(
            f"{name:38s} {row['updates_per_ns']:8.4f} updates/ns (cpu)  {row['updates_per_ns_wall']:8.4f} (wall)  "
            f"e = {row['final_energy_per_unit']:+.4f}",
            flush=True,
        )

    record("numpy reference (sgemm)", replicas, numpy_block_gibbs, lambda out: out)
    spins = jnp.asarray(start)
    beta_arr = jnp.asarray(beta)

    def run_batch():
        state = jax_block_gibbs(jax.random.key(3), spins, model, beta_arr)
        return jax.block_until_ready(state)

    def split_state(state):
        s = np.asarray(state.spins)
        return s[:, :nv], s[:, nv:]

    record("jaxphys block_gibbs, vmapped", replicas, run_batch, split_state)

    one = spins[:1]

    def run_single():
        return jax.block_until_ready(jax_block_gibbs(jax.random.key(4), one, model, beta_arr))

    record("jaxphys block_gibbs, one replica", 1, run_single, split_state)

    reference = rows[0]["updates_per_ns"]
    for row in rows:
        row["ratio_to_numpy"] = row["updates_per_ns"] / reference
    for row in rows:
        print(f"{row['name']:38s} x{row['ratio_to_numpy']:.2f} numpy")

    result = {
        "benchmark": "dense_updates",
        "num_visible": nv,
        "num_hidden": nh,
        "replicas": replicas,
        "steps": steps,
        "repeats": args.repeats,
        "beta": beta,
        "timing": "best of repeats; updates_per_ns from process CPU time, updates_per_ns_wall from wall time",
        "one_core": {
            "cpu": args.cpu,
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        },
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "jax": jax.__version__,
            "numpy": np.__version__,
            "device": str(jax.devices()[0]),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
