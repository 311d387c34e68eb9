"""HMC throughput: jaxphys.mc.hmc (vmapped chains, one jitted lax.scan) against the same algorithm in numpy.

Target: a correlated Gaussian ``E(x) = x^T A x / 2`` in ``d`` dimensions with a dense, well-conditioned
``A`` (eigenvalues in [1, 4]), ``beta = 1``; ``C`` independent chains, ``L`` leapfrog steps of size
``eps`` per trajectory, Metropolis-corrected. The gradient ``A x`` is one (C, d) x (d, d) matrix
product per leapfrog step for all chains at once, so the numpy reference (chains as rows of one array,
BLAS sgemm) is the strongest plain implementation; jaxphys writes one chain and vmaps it.

Rows (trajectories per second over all chains, gradient evaluations per second, ratio to numpy in the
same process, mean acceptance, and the sampled mean of ``x_0^2`` against the exact ``(A^{-1})_00``):

1. ``jaxphys hmc``: ``jax.vmap`` over chains of a ``lax.scan`` of ``mc.hmc(eps, L).step`` (compile
   timed apart), the energy written as ``x @ A @ x / 2`` and differentiated by jax: its gradient
   ``(A + A^T) x / 2`` costs two matrix products per leapfrog step where the hand-written numpy
   gradient ``A x`` costs one, so this row pays ~2x the flops.
2. ``jaxphys hmc, custom_vjp gradient``: the same sampler with the energy's gradient given as ``A x``
   (``jax.custom_vjp``): the sampler's own overhead against numpy.
3. ``numpy``: the same leapfrog and accept/reject, vectorised over chains.

    python benchmarks/hmc.py            # d = 256, 64 chains, 10 leapfrog steps, 400 trajectories
    python benchmarks/hmc.py --quick    # seconds
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_info, pin_to_one_core, write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "hmc.json"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--chains", type=int, default=64)
    parser.add_argument("--leapfrog", type=int, default=10)
    parser.add_argument("--trajectories", type=int, default=400)
    parser.add_argument("--step-size", type=float, default=0.12)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (the best is kept)")
    parser.add_argument("--cpu", type=int, default=0, help="pin to this core, single-threaded (-1: leave alone)")
    parser.add_argument("--quick", action="store_true", help="d = 64, 16 chains, 100 trajectories")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.dim, args.chains, args.trajectories, args.repeats = 64, 16, 100, 2
    return args


def precision_matrix(dim: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return ((q * np.linspace(1.0, 4.0, dim)) @ q.T).astype(np.float32)


def numpy_hmc(A, x, eps, num_leapfrog, num_trajectories, rng):
    """HMC of all chains (rows of x) at once; returns the final x, mean acceptance and the mean of x_0^2."""
    import numpy as np

    def energy(x):
        return 0.5 * np.einsum("ci,ci->c", x @ A, x)

    e, g = energy(x), x @ A
    accepted, second_moment = 0.0, 0.0
    for _ in range(num_trajectories):
        p = rng.standard_normal(x.shape).astype(np.float32)
        h0 = e + 0.5 * np.sum(p * p, axis=1)
        q, gq = x, g
        p = p - 0.5 * eps * gq
        for step in range(num_leapfrog):
            q = q + eps * p
            gq = q @ A
            if step + 1 < num_leapfrog:
                p = p - eps * gq
        p = p - 0.5 * eps * gq
        eq = 0.5 * np.einsum("ci,ci->c", gq, q)
        accept = np.log(rng.uniform(size=len(x))) < h0 - eq - 0.5 * np.sum(p * p, axis=1)
        x, e, g = np.where(accept[:, None], q, x), np.where(accept, eq, e), np.where(accept[:, None], gq, g)
        accepted += accept.mean()
        second_moment += np.mean(x[:, 0] ** 2)
    return x, accepted / num_trajectories, second_moment / num_trajectories


def main(argv=None):
    args = parse_args(argv)
    if args.cpu >= 0:
        pin_to_one_core(args.cpu)
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxphys as jp

    A = precision_matrix(args.dim)
    exact = float(np.linalg.inv(A.astype(np.float64))[0, 0])
    sampler = jp.mc.hmc(args.step_size, args.leapfrog)
    x0 = np.random.default_rng(1).standard_normal((args.chains, args.dim)).astype(np.float32) * 0.5

    @jax.custom_vjp
    def quadratic(A, x):
        return 0.5 * x @ (A @ x)

    def quadratic_fwd(A, x):
        y = A @ x
        return 0.5 * x @ y, y

    quadratic.defvjp(quadratic_fwd, lambda y, g: (None, g * y))  # A is symmetric: the gradient is A x

    gradients = args.chains * args.trajectories * args.leapfrog
    rows = []
    for name, fn in [("jaxphys hmc (vmap x scan)", lambda A, x: 0.5 * x @ A @ x), ("jaxphys hmc, custom_vjp gradient", quadratic)]:
        rows.append(_jaxphys_row(name, jax.tree_util.Partial(fn, jnp.asarray(A)), sampler, x0, args))
    best = min(
        _timed(lambda: numpy_hmc(A, x0, args.step_size, args.leapfrog, args.trajectories, np.random.default_rng(r)))
        for r in range(args.repeats)
    )
    _, acc, x0sq = numpy_hmc(A, x0, args.step_size, args.leapfrog, args.trajectories, np.random.default_rng(0))
    rows.append(dict(name="numpy (chains as rows)", compile_s=0.0, run_s=best, acceptance=float(acc), x0_squared=float(x0sq)))
    reference = rows[-1]["run_s"]
    print(f"HMC, d = {args.dim}, {args.chains} chains, {args.leapfrog} leapfrog steps, {args.trajectories} trajectories "
          f"(exact <x_0^2> = {exact:.4f}; the chains start at variance 0.25, so burn-in biases it slightly)")  # fmt: skip
    for row in rows:
        row["trajectories_per_s"] = args.chains * args.trajectories / row["run_s"]
        row["gradients_per_s"] = gradients / row["run_s"]
        row["speedup_vs_numpy"] = reference / row["run_s"]
        print(f"  {row['name']:34s} {row['trajectories_per_s']:10.0f} traj/s  {row['gradients_per_s']:.3g} grad/s  "
              f"{row['speedup_vs_numpy']:5.2f}x numpy  acceptance {row['acceptance']:.3f}  <x_0^2> {row['x0_squared']:.4f}  "
              f"(compile {row['compile_s']:.2f} s)")  # fmt: skip
    write_json(args.out, dict(benchmark="hmc", args={k: str(v) for k, v in vars(args).items()}, machine=machine_info(),
                              exact_x0_squared=exact, rows=rows))  # fmt: skip


def _jaxphys_row(name, energy, sampler, x0, args) -> dict:
    import jax

    @jax.jit
    def run(key, x0):
        def chain(key, x):
            def body(state, k):
                state, info = sampler.step(k, state, energy, 1.0)
                return state, (info.acceptance_rate, state.position[0] ** 2)

            state, (acc, x0sq) = jax.lax.scan(body, sampler.init(energy, x), jax.random.split(key, args.trajectories))
            return state.position, acc.mean(), x0sq.mean()

        return jax.vmap(chain)(jax.random.split(key, args.chains), x0)

    t0 = time.perf_counter()
    jax.block_until_ready(run(jax.random.key(0), x0))
    compile_s = time.perf_counter() - t0
    best = min(_timed(lambda: jax.block_until_ready(run(jax.random.key(r + 1), x0))) for r in range(args.repeats))
    _, acc, x0sq = run(jax.random.key(1), x0)
    return dict(name=name, compile_s=compile_s, run_s=best, acceptance=float(acc.mean()), x0_squared=float(x0sq.mean()))


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
