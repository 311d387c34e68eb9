"""Dense-coupling spin updates over many replicas (N = 1024, 256 replicas): spin updates per ns.

Three models, each against references run in the same process:

1. ``rbm``: block Gibbs sampling of ``RBM.random(Nv, Nh, scale=1, bias_scale=0.1)`` with +-1
   hidden units at ``beta = 1``; one step redraws every hidden unit given the visible ones, then
   every visible unit (R (Nv + Nh) updates, two (R, Nv) x (Nv, Nh) matrix products).
   Reference: numpy, the R replicas as float32 matrices, ``V @ W`` and ``H @ W.T`` (BLAS sgemm).
2. ``sk``: sequential single-site Metropolis sweeps of ``SK(N)`` at ``--sk-beta`` (default 1.5,
   T = 2/3 < T_c, after ``--burn-in`` sweeps from a random start). jaxphys rows:
   ``mc.dense("metropolis", B)`` (block fields as matrix products, see ``jaxphys/mc/dense.py``)
   and the generic ``mc.metropolis("sequential")``, both vmapped over replicas.
   References: numpy (loop over sites, vectorised over replicas: ``f = S @ J[i]``), and numba
   with cached local fields (a flip updates the N fields of its replica, a rejection costs O(1):
   the usual tuned CPU algorithm, whose cost falls with the acceptance rate).
3. ``hopfield``: the same for ``Hopfield(patterns)`` with P = alpha N patterns (alpha = 0.05,
   beta = 4, started on pattern 0); ``mc.dense`` uses the low-rank form (overlaps ``xi s``
   carried through the sweep, O(N P) per sweep); the references use the (N, N) Hebbian matrix.

Every row reports the best of ``--repeats`` timings as spin updates per ns (process CPU time and
wall time) and the ratio to the numpy row of its model, plus a physical check of the final
states (mean energy per spin; samplers of the same law agree within noise). By default the
process is pinned to one core and XLA/BLAS/numba are single-threaded (``--cpu 0``); ``--cpu -1``
leaves affinity and threading alone (use it on a GPU). Each model ends with a "matmul roofline"
row: a plain XLA float32 matrix product of the model's shape (R, N) x (N, N), timed in the same
process and counted as the updates it would pay for (one update with fan-in N costs 2N flops);
the GFLOP/s column puts every row on that scale.

    python benchmarks/dense_updates.py            # all three models; JSON to benchmarks/results/
    python benchmarks/dense_updates.py --model sk
    python benchmarks/dense_updates.py --quick    # N = 128, R = 16, seconds, for CI
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_info, pin_to_one_core, write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "dense_updates.json"
MODELS = ("rbm", "sk", "hopfield")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=MODELS + ("all",), default="all")
    parser.add_argument("--spins", type=int, default=1024, help="N (for the RBM: Nv = Nh = N/2)")
    parser.add_argument("--replicas", type=int, default=256, help="replicas R updated together")
    parser.add_argument("--steps", type=int, default=8, help="sweeps (block Gibbs steps) per timed run")
    parser.add_argument("--burn-in", type=int, default=20, help="sweeps before timing (single-site models)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row (the best is kept)")
    parser.add_argument("--block-sizes", type=int, nargs="+", default=[32, 128], help="mc.dense block sizes")
    parser.add_argument("--sk-beta", type=float, default=1.5)
    parser.add_argument("--hopfield-beta", type=float, default=4.0)
    parser.add_argument("--hopfield-load", type=float, default=0.05)
    parser.add_argument("--no-numba", action="store_true", help="skip the numba reference")
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to; -1 to leave affinity alone")
    parser.add_argument("--quick", action="store_true", help="N = 128, R = 16, 2 steps, 1 repeat")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON file for the results")
    args = parser.parse_args(argv)
    if args.quick:
        args.spins, args.replicas, args.steps, args.burn_in, args.repeats = 128, 16, 2, 2, 1
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


class Table:
    """Rows of one model: timing, updates/ns, a physical check, ratio to the first (numpy) row."""

    def __init__(self, model: str, updates_per_run: int, fan_in: int, repeats: int, check):
        self.model, self.updates, self.fan_in, self.repeats, self.check = model, updates_per_run, fan_in, repeats, check
        self.rows: list[dict] = []

    def record(self, name: str, fn, updates: int | None = None) -> None:
        fn()  # warm-up: compilation, caches
        cpu, wall, out = best_time(fn, self.repeats)
        updates = self.updates if updates is None else updates
        row = {
            "name": name,
            "seconds_cpu": cpu,
            "seconds_wall": wall,
            "updates_per_ns": updates / cpu / 1e9,
            "updates_per_ns_wall": updates / wall / 1e9,
            "gflops_wall": 2 * self.fan_in * updates / wall / 1e9,
            **self.check(out),
        }
        self.rows.append(row)
        extra = "  ".join(f"{k} = {v:+.4f}" for k, v in self.check(out).items())
        print(
            f"{self.model:8s} {name:44s} {row['updates_per_ns']:8.4f} updates/ns (cpu) "
            f"{row['updates_per_ns_wall']:8.4f} (wall) {row['gflops_wall']:7.1f} GFLOP/s  {extra}",
            flush=True,
        )

    def finish(self) -> list[dict]:
        reference = self.rows[0]["updates_per_ns_wall"]
        for row in self.rows:
            row["ratio_to_numpy"] = row["updates_per_ns_wall"] / reference
            print(f"{self.model:8s} {row['name']:44s} x{row['ratio_to_numpy']:.2f} numpy (wall)")
        return self.rows


def vmapped_sweeps(sampler, num_steps: int):
    """jit(key, spins (R, N), model, beta) -> final spins after ``num_steps`` vmapped sweeps."""
    import jax

    @jax.jit
    def go(key, spins, model, beta):
        states = jax.vmap(sampler.init, in_axes=(None, 0))(model, spins)

        def body(states, k):
            keys = jax.random.split(k, spins.shape[0])
            return jax.vmap(sampler.step, in_axes=(0, 0, None, None))(keys, states, model, beta)[0], None

        return jax.lax.scan(body, states, jax.random.split(key, num_steps))[0].spins

    return go


def matmul_roofline(table: Table, replicas: int, fan_in: int, width: int, repeats: int) -> None:
    """Add the row "matmul roofline": a plain float32 (R, fan_in) x (fan_in, width) product in XLA,
    counted as ``replicas * width`` updates of fan-in ``fan_in`` (2 fan_in flops each): the speed the
    spin updates would reach if all their time were spent in matrix products at this shape."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(7), (replicas, fan_in), jnp.float32)
    b = jax.random.normal(jax.random.key(8), (fan_in, width), jnp.float32)
    reps = max(1, table.updates // (replicas * width))
    matmul = jax.jit(lambda a, b: jax.lax.fori_loop(0, reps, lambda i, c: c + (a + c[:, :1]) @ b, jnp.zeros((replicas, width), jnp.float32)))
    check = table.check
    table.check = lambda out: {}
    table.record(f"matmul roofline (XLA float32 ({replicas},{fan_in})x({fan_in},{width}))", lambda: jax.block_until_ready(matmul(a, b)), updates=reps * replicas * width)
    table.check = check


def bench_rbm(args) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxphys import mc
    from jaxphys.models import RBM

    nv = nh = args.spins // 2
    replicas, steps, beta = args.replicas, args.steps, 1.0
    model = RBM.random(nv, nh, key=jax.random.key(0), scale=1.0, bias_scale=0.1)
    W = np.asarray(model.weights, np.float32)
    a = np.asarray(model.visible_bias, np.float32)
    b = np.asarray(model.hidden_bias, np.float32)
    start = np.asarray(jax.vmap(lambda k: mc.random_spins(k, (nv + nh,)))(jax.random.split(jax.random.key(1), replicas)))

    def check(spins):
        v, h = (np.asarray(spins, np.float64)[:, :nv], np.asarray(spins, np.float64)[:, nv:])
        e = -np.einsum("ri,ij,rj->r", v, W.astype(np.float64), h) - v @ a - h @ b
        return {"energy_per_unit": float(np.mean(e) / (nv + nh))}

    rng = np.random.default_rng(2)

    def numpy_block_gibbs():
        v = start[:, :nv].astype(np.float32)
        h = start[:, nv:].astype(np.float32)
        for _ in range(steps):
            x = v @ W + b
            h = np.where(rng.random(x.shape, np.float32) < 1 / (1 + np.exp(-2 * beta * x)), 1.0, -1.0).astype(np.float32)
            y = h @ W.T + a
            v = np.where(rng.random(y.shape, np.float32) < 1 / (1 + np.exp(-2 * beta * y)), 1.0, -1.0).astype(np.float32)
        return np.concatenate([v, h], axis=1)

    # each unit has fan-in Nh or Nv = N/2
    table = Table("rbm", replicas * (nv + nh) * steps, nv, args.repeats, check)
    table.record("numpy reference (sgemm)", numpy_block_gibbs)
    go = vmapped_sweeps(mc.block_gibbs(), steps)
    spins, beta_arr = jnp.asarray(start), jnp.asarray(beta)
    table.record("jaxphys block_gibbs, vmapped", lambda: jax.block_until_ready(go(jax.random.key(3), spins, model, beta_arr)))
    table.record(
        "jaxphys block_gibbs, one replica",
        lambda: jax.block_until_ready(go(jax.random.key(4), spins[:1], model, beta_arr)),
        updates=(nv + nh) * steps,
    )
    matmul_roofline(table, replicas, nv, nh, args.repeats)
    return table.finish()


def numba_local_field_sweeps():
    """Sequential Metropolis with cached local fields, per replica (numba; None if not installed)."""
    try:
        import numba
    except ImportError:
        return None
    import numpy as np

    @numba.njit(fastmath=True)
    def sweeps(J, s, f, uniforms, beta):  # s, f: (R, N) float32, uniforms: (steps, R, N)
        steps, R, N = uniforms.shape
        for t in range(steps):
            for r in range(R):
                for i in range(N):
                    de = 2.0 * s[r, i] * f[r, i]
                    if uniforms[t, r, i] < np.exp(-beta * de):
                        s[r, i] = -s[r, i]
                        d = 2.0 * s[r, i]
                        for j in range(N):
                            f[r, j] += d * J[i, j]
        return s

    return sweeps


def bench_single_site(args, which: str) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxphys import mc
    from jaxphys.models import SK, Hopfield

    n, replicas, steps = args.spins, args.replicas, args.steps
    key = jax.random.key(0)
    if which == "sk":
        model, beta = SK(n, key=key), args.sk_beta
        J = np.asarray(model.J, np.float32)
        start = jax.vmap(lambda k: mc.random_spins(k, (n,)))(jax.random.split(jax.random.key(1), replicas))
    else:
        p = max(1, round(args.hopfield_load * n))
        model, beta = Hopfield(jax.random.rademacher(key, (p, n), jnp.int8)), args.hopfield_beta
        J = np.asarray(model.couplings(), np.float32)
        start = jnp.broadcast_to(model.patterns[0], (replicas, n))
    beta_arr = jnp.asarray(beta, jnp.float32)
    # equilibrate once (so acceptance rates are those of the stationary state), then time from there
    start = vmapped_sweeps(mc.dense("metropolis", 64), args.burn_in)(jax.random.key(5), start, model, beta_arr)
    start_np = np.asarray(start, np.float32)

    def check(spins):
        s = np.asarray(spins, np.float64)
        e = -0.5 * np.einsum("ri,ij,rj->r", s, J.astype(np.float64), s) / n
        out = {"energy_per_spin": float(np.mean(e))}
        if which == "hopfield":
            out["overlap_pattern_0"] = float(np.mean(s @ np.asarray(model.patterns[0], np.float64)) / n)
        return out

    rng = np.random.default_rng(2)

    def numpy_sweeps():
        s = start_np.copy()
        for _ in range(steps):
            u = rng.random((n, replicas), np.float32)
            for i in range(n):
                f = s @ J[i]
                s[:, i] = np.where(u[i] < np.exp(-beta * 2 * s[:, i] * f), -s[:, i], s[:, i])
        return s

    table = Table(which, replicas * n * steps, n, args.repeats, check)
    table.record("numpy reference (site loop, S @ J[i])", numpy_sweeps)
    sweeps = None if args.no_numba else numba_local_field_sweeps()
    if sweeps is not None:
        uniforms = rng.random((steps, replicas, n)).astype(np.float32)
        fields = start_np @ J
        table.record("numba, cached local fields", lambda: sweeps(J, start_np.copy(), fields.copy(), uniforms, np.float32(beta)))
    for b in args.block_sizes:
        go = vmapped_sweeps(mc.dense("metropolis", b), steps)
        table.record(f"jaxphys mc.dense(block_size={b}), vmapped", lambda: jax.block_until_ready(go(jax.random.key(3), start, model, beta_arr)))
    go = vmapped_sweeps(mc.metropolis("sequential"), steps)
    table.record("jaxphys mc.metropolis('sequential'), vmapped", lambda: jax.block_until_ready(go(jax.random.key(4), start, model, beta_arr)))
    matmul_roofline(table, replicas, n, n, args.repeats)
    return table.finish()


def main(argv=None) -> dict:
    args = parse_args(argv)
    pin_to_one_core(args.cpu)

    models = MODELS if args.model == "all" else (args.model,)
    results = {}
    for which in models:
        results[which] = bench_rbm(args) if which == "rbm" else bench_single_site(args, which)

    result = {
        "benchmark": "dense_updates",
        "num_spins": args.spins,
        "replicas": args.replicas,
        "steps": args.steps,
        "repeats": args.repeats,
        "sk_beta": args.sk_beta,
        "hopfield_beta": args.hopfield_beta,
        "hopfield_load": args.hopfield_load,
        "timing": "best of repeats; updates_per_ns from process CPU time, updates_per_ns_wall from wall time; "
        "gflops_wall = 2 x fan-in x updates / wall time; ratio_to_numpy on wall time",
        "one_core": {
            "cpu": args.cpu,
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        },
        "machine": machine_info(),
        "models": results,
    }
    write_json(args.output, result)
    return result


if __name__ == "__main__":
    main()
