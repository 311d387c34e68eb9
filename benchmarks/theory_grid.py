"""SK replica-symmetric equations on a (T, h) grid: jaxphys (vmapped, jitted) against SciPy/numpy loops.

Equations (J = 1, J0 = 0): ``m = E tanh(beta (h + sqrt(q) z))``, ``q = E tanh^2(beta (h + sqrt(q) z))``,
``z ~ N(0, 1)``, at every point of a ``G x G`` grid ``T in [0.2, 2]``, ``h in [0, 1]``.

Rows (points per second, ratio to the numpy row, max |difference| of (m, q) to it):

1. ``jaxphys fixed_point + GH64`` with Anderson acceleration (``anderson=5``), and a second row with
   the default plain damped iteration (a vmapped while loop runs until its slowest point converges,
   and damped iteration slows down critically near T = 1): :func:`jaxphys.theory.fixed_point.solve` (damping 0.5, tol
   1e-10, Newton polish) with :func:`jaxphys.theory.quadrature.gaussian_expectation` (64-node
   Gauss-Hermite), ``jax.jit(jax.vmap(...))`` over the whole grid; compile and run timed apart.
2. ``jaxphys sk.solve``: the library solver (sinh-mapped trapezoid rule, 256 nodes, accurate at
   low T; so its difference to the GH64 rows is the quadrature error of GH64), on the numpy
   reference's subgrid (extrapolated).
3. ``numpy GH64 loop``: the reference, a Python loop over points, damped iteration (the same
   damping, tolerance and start (m, q) = (1, 1)) with the same 64 numpy Gauss-Hermite nodes,
   on every ``--stride``-th point in each direction (extrapolated to the grid by points/s).
4. ``scipy quad loop``: the same iteration with ``scipy.integrate.quad`` for each Gaussian
   integral, on a 16 x 16 subgrid (8 x 8 with ``--quick``), extrapolated likewise.

    python benchmarks/theory_grid.py            # 256 x 256; JSON to benchmarks/results/theory_grid.json
    python benchmarks/theory_grid.py --quick    # 32 x 32, seconds
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_info, pin_to_one_core, write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "theory_grid.json"
DAMPING, TOL, MAX_STEPS, NODES = 0.5, 1e-10, 5000, 64


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=256, help="G: the grid is G x G")
    parser.add_argument("--stride", type=int, default=4, help="numpy reference on every stride-th point per axis")
    parser.add_argument("--quad-grid", type=int, default=16, help="scipy.quad reference on a Q x Q subgrid")
    parser.add_argument("--repeats", type=int, default=3, help="timed jaxphys runs (the best is kept)")
    parser.add_argument("--cpu", type=int, default=0, help="pin to this core, single-threaded (-1: leave alone)")
    parser.add_argument("--quick", action="store_true", help="G = 32, stride 2, 8 x 8 quad subgrid")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.grid, args.stride, args.quad_grid, args.repeats = 32, 2, 8, 2
    return args


def grid(g):
    import numpy as np

    return np.linspace(0.2, 2.0, g), np.linspace(0.0, 1.0, g)


# --------------------------------------------------------------------------- references


def numpy_point(T, h, average):
    """Damped iteration of the SK RS map at one point; ``average(f)`` is ``E_z f(z)``."""
    m, q = 1.0, 1.0
    for step in range(MAX_STEPS):
        t = average(lambda z: __import__("numpy").tanh((h + q**0.5 * z) / T))
        m_new, q_new = t
        r = max(abs(m_new - m) / (1 + abs(m)), abs(q_new - q) / (1 + abs(q)))
        if r <= TOL:
            return m, q, step
        m = DAMPING * m + (1 - DAMPING) * m_new
        q = DAMPING * q + (1 - DAMPING) * q_new
    return m, q, MAX_STEPS


def gh_average():
    import numpy as np

    z, w = np.polynomial.hermite_e.hermegauss(NODES)
    w = w / w.sum()

    def average(f):
        t = f(z)
        return float(w @ t), float(w @ (t * t))

    return average


def quad_average():
    import numpy as np
    from scipy.integrate import quad

    density = 1.0 / np.sqrt(2 * np.pi)

    def average(f):
        first = quad(lambda z: f(z) * density * np.exp(-0.5 * z * z), -np.inf, np.inf)[0]
        second = quad(lambda z: f(z) ** 2 * density * np.exp(-0.5 * z * z), -np.inf, np.inf)[0]
        return first, second

    return average


def reference(Ts, hs, average):
    import numpy as np

    m = np.empty((len(Ts), len(hs)))
    q = np.empty_like(m)
    unconverged = 0
    start = time.perf_counter()
    for i, T in enumerate(Ts):
        for j, h in enumerate(hs):
            m[i, j], q[i, j], steps = numpy_point(float(T), float(h), average)
            unconverged += steps == MAX_STEPS
    return m, q, time.perf_counter() - start, int(unconverged)


# --------------------------------------------------------------------------- jaxphys


def jaxphys_solvers():
    import jax
    import jax.numpy as jnp

    from jaxphys.theory import fixed_point, sk
    from jaxphys.theory.quadrature import gaussian_expectation

    def update(x, p):
        T, h = p
        y = lambda z: jnp.tanh((h + jnp.sqrt(jnp.maximum(x["q"], 0.0)) * z) / T)  # noqa: E731
        m, q = gaussian_expectation(lambda z: jnp.stack([y(z), y(z) ** 2], -1), num_nodes=NODES)
        return {"m": m, "q": q}

    def one(T, h, anderson):
        sol = fixed_point.solve(update, {"m": 1.0, "q": 1.0}, (T, h), damping=DAMPING, tol=TOL, max_steps=MAX_STEPS, anderson=anderson)
        return sol.value["m"], sol.value["q"], sol.status

    # Anderson acceleration (memory 5; opt-in)
    gh = jax.jit(lambda T, h: jax.vmap(lambda t, b: one(t, b, 5))(T.reshape(-1), h.reshape(-1)))
    # plain damped iteration: a vmapped while loop runs until its slowest point converges
    # (critical slowing down near T = 1, h = 0)
    gh_newton = jax.jit(lambda T, h: jax.vmap(lambda t, b: one(t, b, 0))(T.reshape(-1), h.reshape(-1)))

    def library(T, h):
        sol = sk.solve(T, h)
        return sol.value["m"], sol.value["q"], sol.status

    return gh, gh_newton, library


def time_jax(fn, T, h, repeats):
    import jax

    start = time.perf_counter()
    out = jax.block_until_ready(fn(T, h))
    first = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn(T, h))
        runs.append(time.perf_counter() - start)
    best = min(runs)
    return out, max(first - best, 0.0), best


def main(argv=None):
    args = parse_args(argv)
    pin_to_one_core(args.cpu)
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    g = args.grid
    Ts, hs = grid(g)
    T2, h2 = np.meshgrid(Ts, hs, indexing="ij")
    points = g * g
    gh, gh_newton, library = jaxphys_solvers()
    rows = []

    (m_gh, q_gh, st_gh), compile_gh, run_gh = time_jax(gh, jnp.asarray(T2), jnp.asarray(h2), args.repeats)
    m_gh, q_gh = np.asarray(m_gh).reshape(g, g), np.asarray(q_gh).reshape(g, g)
    (m_nt, q_nt, st_nt), compile_nt, run_nt = time_jax(gh_newton, jnp.asarray(T2), jnp.asarray(h2), args.repeats)
    m_nt, q_nt = np.asarray(m_nt).reshape(g, g), np.asarray(q_nt).reshape(g, g)
    sub = slice(None, None, args.stride)
    # the library solver (256 nodes, up to 5000 damped steps) on the numpy reference's subgrid
    (m_lib, q_lib, st_lib), compile_lib, run_lib = time_jax(library, jnp.asarray(T2[sub, sub]), jnp.asarray(h2[sub, sub]), args.repeats)
    m_lib, q_lib = np.asarray(m_lib), np.asarray(q_lib)
    lib_points = m_lib.size
    m_np, q_np, t_np, bad_np = reference(Ts[sub], hs[sub], gh_average())
    np_points = m_np.size
    np_rate = np_points / t_np

    qsub = np.linspace(0, g - 1, args.quad_grid).round().astype(int)
    m_q, q_q, t_q, bad_q = reference(Ts[qsub], hs[qsub], quad_average())
    q_rate = m_q.size / t_q
    m_lib_q, q_lib_q, _ = library(jnp.asarray(T2[np.ix_(qsub, qsub)]), jnp.asarray(h2[np.ix_(qsub, qsub)]))
    m_lib_q, q_lib_q = np.asarray(m_lib_q), np.asarray(q_lib_q)

    def diff(m, q, mr, qr):
        return float(max(np.max(np.abs(m - mr)), np.max(np.abs(q - qr))))

    rows.append({
        "name": "jaxphys fixed_point + GH64, anderson=5", "points": points, "compile_s": compile_gh, "run_s": run_gh,
        "points_per_s": points / run_gh, "bad": int(np.sum(np.asarray(st_gh) != 0)),
        "max_diff_to_numpy": diff(m_gh[sub, sub], q_gh[sub, sub], m_np, q_np),
    })  # fmt: skip
    rows.append({
        "name": "jaxphys fixed_point + GH64, defaults (plain damped)", "points": points, "compile_s": compile_nt, "run_s": run_nt,
        "points_per_s": points / run_nt, "bad": int(np.sum(np.asarray(st_nt) != 0)),
        "max_diff_to_numpy": diff(m_nt[sub, sub], q_nt[sub, sub], m_np, q_np),
    })  # fmt: skip
    rows.append({
        "name": "jaxphys sk.solve (256-node sinh rule)", "points": lib_points, "compile_s": compile_lib, "run_s": run_lib,
        "points_per_s": lib_points / run_lib, "bad": int(np.sum(np.asarray(st_lib) != 0)),
        "max_diff_to_numpy": diff(m_lib, q_lib, m_np, q_np),
    })  # fmt: skip
    rows.append({
        "name": "numpy GH64 loop", "points": np_points, "compile_s": 0.0, "run_s": t_np, "points_per_s": np_rate,
        "bad": bad_np, "max_diff_to_numpy": 0.0,
    })  # fmt: skip
    rows.append({
        "name": "scipy quad loop", "points": int(m_q.size), "compile_s": 0.0, "run_s": t_q, "points_per_s": q_rate,
        "bad": bad_q, "max_diff_to_numpy": None,
        "max_diff_to_sk_solve": diff(m_lib_q, q_lib_q, m_q, q_q),
    })  # fmt: skip
    for row in rows:
        row["speedup_vs_numpy"] = row["points_per_s"] / np_rate
        row["extrapolated_grid_s"] = points / row["points_per_s"]

    print(f"SK RS equations on a {g} x {g} (T, h) grid; numpy on every {args.stride}th point, quad on {args.quad_grid}^2")
    print(
        f"{'row':40s} {'points':>7s} {'compile s':>10s} {'run s':>9s} {'points/s':>11s} {'x numpy':>9s} {'grid s':>9s} {'max|diff|':>10s} {'bad':>4s}"
    )
    for row in rows:
        d = row["max_diff_to_numpy"] if row["max_diff_to_numpy"] is not None else row["max_diff_to_sk_solve"]
        print(
            f"{row['name']:40s} {row['points']:7d} {row['compile_s']:10.2f} {row['run_s']:9.3f} {row['points_per_s']:11.1f} "
            f"{row['speedup_vs_numpy']:9.1f} {row['extrapolated_grid_s']:9.1f} {d:10.2e} {row['bad']:4d}"
        )
    print("max|diff| of the quad row is to sk.solve on the same points; 'grid s' extrapolates to the whole grid")
    write_json(args.out, {"benchmark": "theory_grid", "args": {k: str(v) for k, v in vars(args).items()},
                          "machine": machine_info(), "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
