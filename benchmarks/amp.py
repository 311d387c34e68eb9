"""GAMP iterations per second: jaxphys.learning.amp.gamp against a plain numpy loop of the same iteration.

Problem: the spherical teacher-student perceptron (Gaussian prior, sign channel), ``alpha = P/N = 2``,
float32, ``N`` in {1000, 2000, 4000}, scalar variances (two matrix-vector products with the
(P, N) data per iteration). Both run exactly ``--steps`` iterations from the same start
(``tol`` and ``min_variance`` set so that nothing stops them early), and the final estimates are
compared (``max|diff|``; float32 rounding grows along the iteration, so a few 1e-5 is agreement).

Rows (iterations per second, ratio to numpy in the same process):

1. ``jaxphys gamp``: one jitted call (``lax.while_loop``), compile and run timed apart.
2. ``jaxphys gamp, vmap x8``: eight instances in one call (instance-iterations per second): what a
   sweep over disorder samples gets.
3. ``jaxphys gamp, adaptive``: row 1 with ``adaptive_damping=True`` (one more length-N dot product and
   a step-size update per iteration; compile not reported). This problem does not oscillate, so the
   step stays full and the rate should match row 1.
4. ``numpy``: the same update written with numpy/scipy (``scipy.special.log_ndtr``), BLAS ``sgemv``.

Both are memory-bound at large N (each iteration streams the P x N matrix twice), and there the
ratio drops below 1: XLA's CPU matrix-vector products are slower than OpenBLAS ``sgemv``, the
transposed one (``g @ x``) most (measured ~15 ms against ~8.5 ms at N = 4000, P = 8000, one core).
The gain of jit is fusing the O(P + N) elementwise work of the denoisers, which shows at small N.
On a CPU the vmap row interleaves the instances, so their matrices stream from memory every
iteration, while a single instance's matrix (8 MB at N = 1000) stays in cache: per instance the
vmapped call is slower there; on an accelerator it is the way to run many instances.

    python benchmarks/amp.py            # N = 1000, 2000, 4000; JSON to benchmarks/results/amp.json
    python benchmarks/amp.py --quick    # N = 500, 1000, seconds
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_info, pin_to_one_core, write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "amp.json"
ALPHA = 2.0
BATCH = 8


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000], help="N values")
    parser.add_argument("--steps", type=int, default=50, help="GAMP iterations per run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (the best is kept)")
    parser.add_argument("--cpu", type=int, default=0, help="pin to this core, single-threaded (-1: leave alone)")
    parser.add_argument("--quick", action="store_true", help="N = 500, 1000; 20 steps")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.steps, args.repeats = [500, 1000], 20, 2
    return args


def numpy_gamp(x, y, steps):
    """GAMP for the Gaussian prior (variance 1) and the noiseless sign channel, scalar variances."""
    import numpy as np
    from scipy.special import log_ndtr

    p, n = x.shape
    dtype = x.dtype
    sqrt_n = np.float32(math.sqrt(n)) if dtype == np.float32 else math.sqrt(n)
    log_sqrt_2pi = dtype.type(0.5 * math.log(2.0 * math.pi))
    a = np.zeros(n, dtype)
    v = np.ones(n, dtype)
    g = np.zeros(p, dtype)
    for _ in range(steps):
        V = v.mean()
        omega = x @ a / sqrt_n - V * g
        sqrt_v = np.sqrt(V)
        u = y * omega / sqrt_v
        r = np.exp(-0.5 * u * u - log_sqrt_2pi - log_ndtr(u)).astype(dtype)
        h = np.clip(r * (u + r), 0.0, 1.0)
        g = y * r / sqrt_v
        A = np.sum(h / V) / n  # -sum(dg) / N
        B = g @ x / sqrt_n + A * a
        a = B / (1.0 + A)
        v = np.full(n, 1.0 / (1.0 + A), dtype)
    return a


def best_time(fn, repeats):
    runs = []
    out = None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - start)
    return out, min(runs)


def main(argv=None):
    args = parse_args(argv)
    pin_to_one_core(args.cpu)
    import jax
    import numpy as np

    from jaxphys.learning import amp

    prior, channel = amp.GaussianPrior(), amp.SignChannel()
    # tol and min_variance far below anything reached in --steps iterations: exactly `steps` iterations
    options = dict(tol=1e-30, min_variance=0.0, max_steps=args.steps)

    def run_one(x, y):
        return amp.gamp(x, y, prior, channel, **options)

    single = jax.jit(run_one)
    batched = jax.jit(jax.vmap(run_one))
    adaptive = jax.jit(lambda x, y: amp.gamp(x, y, prior, channel, adaptive_damping=True, **options))
    rows = []
    for n in args.sizes:
        p = int(ALPHA * n)
        keys = jax.random.split(jax.random.key(n), BATCH)
        problems = jax.block_until_ready(jax.vmap(lambda k: amp.sample_problem(k, prior, channel, n, p))(keys))
        x0, y0 = problems.x[0], problems.y[0]

        start = time.perf_counter()
        sol = jax.block_until_ready(single(x0, y0))
        first = time.perf_counter() - start
        sol, run = best_time(lambda: jax.block_until_ready(single(x0, y0)), args.repeats)
        steps = int(sol.num_steps)

        start = time.perf_counter()
        bsol = jax.block_until_ready(batched(problems.x, problems.y))
        first_b = time.perf_counter() - start
        bsol, run_b = best_time(lambda: jax.block_until_ready(batched(problems.x, problems.y)), max(1, args.repeats - 1))
        steps_b = int(np.sum(np.asarray(bsol.num_steps)))

        jax.block_until_ready(adaptive(x0, y0))  # compile
        asol, run_a = best_time(lambda: jax.block_until_ready(adaptive(x0, y0)), args.repeats)
        steps_a = int(asol.num_steps)

        x_np, y_np = np.asarray(x0), np.asarray(y0)
        a_np, run_np = best_time(lambda: numpy_gamp(x_np, y_np, steps), args.repeats)
        diff = float(np.max(np.abs(np.asarray(sol.value.mean) - a_np)))
        np_rate = steps / run_np
        for name, iterations, run_s, compile_s in (
            ("jaxphys gamp", steps, run, max(first - run, 0.0)),
            (f"jaxphys gamp, vmap x{BATCH}", steps_b, run_b, max(first_b - run_b, 0.0)),
            ("jaxphys gamp, adaptive", steps_a, run_a, None),
            ("numpy", steps, run_np, 0.0),
        ):
            rate = iterations / run_s
            rows.append({
                "name": name, "N": n, "P": p, "iterations": iterations, "compile_s": compile_s, "run_s": run_s,
                "iterations_per_s": rate, "speedup_vs_numpy": rate / np_rate,
                "max_diff_to_numpy": diff if name == "jaxphys gamp" else None,
            })  # fmt: skip

    print(f"GAMP (Gaussian prior, sign channel), alpha = {ALPHA}, float32, {args.steps} iterations; device {jax.devices()[0]}")
    print(f"{'row':26s} {'N':>6s} {'P':>6s} {'compile s':>10s} {'run s':>8s} {'iter/s':>10s} {'x numpy':>8s} {'max|diff|':>10s}")
    for row in rows:
        d, c = row["max_diff_to_numpy"], row["compile_s"]
        print(
            f"{row['name']:26s} {row['N']:6d} {row['P']:6d} {'' if c is None else f'{c:.2f}':>10s} {row['run_s']:8.3f} "
            f"{row['iterations_per_s']:10.1f} {row['speedup_vs_numpy']:8.2f} {'' if d is None else f'{d:10.1e}'}"
        )
    print("vmap rows count instance-iterations (8 instances per call)")
    write_json(args.out, {"benchmark": "amp", "args": {k: str(v) for k, v in vars(args).items()},
                          "machine": machine_info(), "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
