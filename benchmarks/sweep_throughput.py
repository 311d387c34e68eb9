"""Sweep throughput: ``jaxphys.sweep.run`` against a Python loop over the same jitted kernel.

Kernel: one 2D Ising chain (L x L, checkerboard Metropolis, ``--sweeps`` sweeps after as many
burn-in sweeps, energy and |m| reduced on device by ``mc.run``) at temperature ``T``.
Work: ``--points`` temperatures in [2.0, 2.6] x ``--replicas`` chains = items.

Rows:
- Python loop: ``jax.jit(fn)`` compiled once, called item by item (the way a sweep is written
  by hand); the reference.
- ``sweep.run`` with ``chunk_size`` = all items (one vmapped call) and = 16 items.
- weak scaling: ``sweep.run`` in subprocesses with 1, 2, 4 forced host devices
  (``XLA_FLAGS=--xla_force_host_platform_device_count=D``) and D times the work; efficiency =
  t(1) / t(D). This machine has 2 cores, so at most 2x can be real; on a multi-GPU host pass
  ``--devices`` to use the real devices.

Prints items per second and the ratio to the loop, saves JSON. Results are checked to agree:
the sweep's energies equal the loop's to float rounding (same keys: ``fold_in(key, index)``).

    python benchmarks/sweep_throughput.py            # L = 16, 32 points x 8 replicas
    python benchmarks/sweep_throughput.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_info, write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "sweep_throughput.json"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16, help="lattice side L")
    parser.add_argument("--points", type=int, default=32)
    parser.add_argument("--replicas", type=int, default=8)
    parser.add_argument("--sweeps", type=int, default=200)
    parser.add_argument("--scaling", type=int, nargs="*", default=[1, 2, 4], help="forced host device counts")
    parser.add_argument("--quick", action="store_true", help="L = 8, 8 points x 2 replicas, 50 sweeps")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.points, args.replicas, args.sweeps = 8, 8, 2, 50
    return args


def kernel(size: int, sweeps: int):
    import jax

    from jaxphys import mc
    from jaxphys.models import Ising
    from jaxphys.observables.thermodynamic import STANDARD

    model = Ising((size, size))
    sampler = mc.checkerboard()
    observables = {"energy": STANDARD["energy"], "abs_magnetization": STANDARD["abs_magnetization"]}

    def fn(key, point):
        result = mc.run(key, sampler, model, 1.0 / point["T"], sweeps, burn_in=sweeps, observables=observables, num_bins=16)
        return {"energy": result.mean["energy"], "abs_magnetization": result.mean["abs_magnetization"], "status": result.status}

    return jax, fn


def temperatures(points: int):
    import numpy as np

    return np.linspace(2.0, 2.6, points)


def timed_sweep(args, points: int, chunk_size):
    jax, fn = kernel(args.size, args.sweeps)
    from jaxphys import sweep

    grid = {"T": temperatures(points)}
    sweep.run(fn, grid, key=jax.random.key(0), replicas=args.replicas, chunk_size=chunk_size, progress=False)  # compile
    t0 = time.perf_counter()
    result = sweep.run(fn, grid, key=jax.random.key(0), replicas=args.replicas, chunk_size=chunk_size, progress=False)
    return time.perf_counter() - t0, result


def worker(args) -> None:
    """Subprocess of the weak-scaling rows: D devices, D times the points."""
    devices = args.worker
    seconds, _ = timed_sweep(args, args.points * devices, args.points * args.replicas * devices)
    print(json.dumps({"devices": devices, "seconds": seconds, "items": args.points * args.replicas * devices}))


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    jax, fn = kernel(args.size, args.sweeps)
    import numpy as np

    items = args.points * args.replicas
    ts = temperatures(args.points)
    rows = []

    def row(name, seconds, **extra):
        rows.append({"name": name, "seconds": seconds, "items_per_second": items / seconds, **extra})
        print(f"{name:44s} {seconds:8.3f} s  {items / seconds:10.1f} items/s", flush=True)

    # Python loop over (point, replica) with the same keys as sweep.run: fold_in(key, index),
    # index = point * replicas + replica
    single = jax.jit(fn)
    key = jax.random.key(0)
    jax.block_until_ready(single(jax.random.fold_in(key, 0), {"T": jax.numpy.asarray(ts[0])}))
    t0 = time.perf_counter()
    loop_energy = np.empty((args.points, args.replicas))
    for p, t in enumerate(ts):
        point = {"T": jax.numpy.asarray(t)}
        for r in range(args.replicas):
            out = single(jax.random.fold_in(key, p * args.replicas + r), point)
            loop_energy[p, r] = float(out["energy"])
    row("Python loop over items (jit once)", time.perf_counter() - t0)

    for chunk in (items, 16):
        seconds, result = timed_sweep(args, args.points, chunk)
        energy = np.asarray(result.field("energy", "values")).reshape(args.points, args.replicas)
        diff = float(np.max(np.abs(energy - loop_energy)))
        row(f"sweep.run, chunk_size = {chunk}", seconds, max_abs_diff_to_loop=diff)
    for r in rows:
        r["ratio_to_loop"] = rows[0]["seconds"] / r["seconds"]
        print(f"{r['name']:44s} x{r['ratio_to_loop']:.2f} loop")

    scaling = []
    for devices in args.scaling:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
        cmd = [sys.executable, __file__, "--worker", str(devices), "--size", str(args.size), "--points", str(args.points),
               "--replicas", str(args.replicas), "--sweeps", str(args.sweeps)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        scaling.append(json.loads(out))
    for s in scaling:
        s["weak_scaling_efficiency"] = scaling[0]["seconds"] / s["seconds"]
        print(f"weak scaling: {s['devices']} forced host device(s), {s['items']} items: {s['seconds']:.3f} s, efficiency {s['weak_scaling_efficiency']:.2f}")

    result = {
        "benchmark": "sweep_throughput",
        "size": args.size,
        "points": args.points,
        "replicas": args.replicas,
        "sweeps": args.sweeps,
        "rows": rows,
        "weak_scaling": scaling,
        "machine": machine_info(),
    }
    write_json(args.output, result)
    return result


if __name__ == "__main__":
    main()
