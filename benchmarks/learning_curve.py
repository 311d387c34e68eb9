"""Teacher-student perceptron learning curve: one vmapped jaxphys call against loops over the same training.

Problem: a Gaussian teacher ``w*`` labels ``P = alpha N`` Gaussian inputs with ``y = sign(w* . x / sqrt N)``;
a perceptron student ``w`` minimises the logistic loss ``softplus(-y w . x / sqrt N)`` plus a ridge
``lam |w|^2 / (2 N)`` by full-batch gradient descent from ``w = 0`` (``--steps`` steps, ``lr = N / 2``);
``eps_g = arccos(R) / pi`` with ``R`` the normalised teacher-student overlap. Grid: ``--alphas``
values of ``alpha`` in [0.25, 4] (geometric, or ``--grid linear``) x ``--seeds`` seeds, N = ``--dim``.

Rows (runs = (seed, alpha) pairs per second, from the process CPU time of this pinned single-threaded
process, which on a shared machine measures its own cost better than wall time (also reported);
ratio to the numpy row):

1. ``jaxphys learning_curve``: :func:`jaxphys.learning.train.learning_curve`, every run in one jitted
   call (compile timed apart), with the sizes in ``--groups`` groups (default 4), each group one vmapped
   loop padded to its own largest P with weights.
1b. ``jaxphys learning_curve, one group``: the same with ``num_groups=1``, every run padded to the
   largest P (the behaviour before grouping, and the automatic choice for this linear model); its final
   weights must equal those of row 1. The runs of one seed share its inputs, so the vmapped products
   over the runs are bound by reading the inputs and padding costs little: grouping does not pay here
   (it does for networks with hidden layers, see ``learning_curve``). What keeps row 1b near half the
   numpy rate at N = 256 is XLA's CPU matrix-vector products (slower than OpenBLAS, see
   ``benchmarks/amp.py``), not the padding: even 16 groups (no padding at all) run slower than one.
2. ``loop over runs``: a Python loop calling the same jitted single-run :func:`~jaxphys.learning.train.fit`
   (padded data and weights, so one compile) once per (seed, alpha), on the data the vmapped call drew
   (repeated from its documented key contract); its final weights must equal the vmapped ones.
3. ``loop over steps``: a Python loop over a jitted single gradient step (unpadded, one compile per
   size, compile excluded): dispatch-bound, the naive way.
4. ``numpy``: the same gradient descent in numpy (float32, unpadded), on the same data; its final
   weights are compared with the vmapped ones (max |difference| of eps_g reported).

    python benchmarks/learning_curve.py            # 16 alphas x 16 seeds, N = 256, 300 steps
    python benchmarks/learning_curve.py --quick    # 4 x 4, N = 64, 100 steps
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_info, pin_to_one_core, write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "learning_curve.json"
RIDGE = 1e-2


class Clock:
    """Wall and process-CPU time since creation: on a shared machine the CPU time of this pinned,
    single-threaded process is the better measure of its own cost (both are reported)."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alphas", type=int, default=16, help="number of alpha values in [0.25, 4]")
    parser.add_argument("--grid", choices=("geometric", "linear"), default="geometric",
                        help="alpha spacing; in one group every run is padded to the largest P, so its cost grows "
                        "with max(P) / mean(P) (2.85 geometric, 1.9 linear; 1.24 and 1.18 in 4 groups)")
    parser.add_argument("--groups", type=int, default=4, help="num_groups of learning_curve in row 1")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--dim", type=int, default=256, help="input dimension N")
    parser.add_argument("--steps", type=int, default=300, help="gradient-descent steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="timed vmapped runs (the best is kept)")
    parser.add_argument("--loop-runs", type=int, default=64, help="runs timed in the loops (extrapolated)")
    parser.add_argument("--cpu", type=int, default=0, help="pin to this core, single-threaded (-1: leave alone)")
    parser.add_argument("--quick", action="store_true", help="4 alphas x 4 seeds, N = 64, 100 steps")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.alphas, args.seeds, args.dim, args.steps, args.loop_runs, args.repeats = 4, 4, 64, 100, 16, 1
    return args


def main(argv=None):
    args = parse_args(argv)
    pin_to_one_core(args.cpu)
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from jaxphys.learning import data, train

    n, num_seeds, num_steps = args.dim, args.seeds, args.steps
    alphas = (np.geomspace if args.grid == "geometric" else np.linspace)(0.25, 4.0, args.alphas)
    sizes = tuple(int(round(a * n)) for a in alphas)
    largest = max(sizes)
    lr = n / 2.0
    root_n = math.sqrt(n)

    def loss(w, x, y):
        return jax.nn.softplus(-y * (w @ x) / root_n)

    def penalty(w):
        return 0.5 * RIDGE * jnp.sum(w**2) / n

    def sample(key, num_samples):
        return data.teacher_perceptron(key, num_samples, n)

    def generalisation(w, teacher):
        overlap = w @ teacher / (jnp.linalg.norm(w) * jnp.linalg.norm(teacher))
        return {"eps_g": jnp.arccos(jnp.clip(overlap, -1.0, 1.0)) / jnp.pi}

    optimizer = optax.sgd(lr)
    key = jax.random.key(0)
    options = dict(num_steps=num_steps, penalty=penalty, log_every=num_steps)
    runs = num_seeds * len(sizes)

    def curve(num_groups):
        return train.learning_curve(
            key, jnp.zeros(n), loss, sample, optimizer, sizes, num_seeds=num_seeds, eval_fn=generalisation,
            num_groups=num_groups, **options,
        )  # fmt: skip

    def timed_curve(num_groups):
        """(result, best (wall, cpu) of the repeats, first call's (wall, cpu) including compilation)."""
        clock = Clock()
        result = jax.block_until_ready(curve(num_groups))
        first = clock.lap()
        times = []
        for _ in range(args.repeats):
            clock = Clock()
            result = jax.block_until_ready(curve(num_groups))
            times.append(clock.lap())
        return result, min(times, key=lambda t: t[1]), first

    groups = train.size_groups(sizes, args.groups)
    automatic = train._auto_num_groups(sizes, num_seeds * num_steps, n, n)  # what num_groups=None picks
    result, (vmapped_wall, vmapped_s), (first_wall, first_cpu) = timed_curve(args.groups)
    one_group, (one_wall, one_s), (one_first_wall, one_first_cpu) = timed_curve(1)
    weights_vmapped = np.asarray(result.model)  # (seeds, alphas, N)
    eps_vmapped = np.asarray(result.history["eps_g"][..., -1])
    group_diff = float(np.max(np.abs(np.asarray(one_group.model) - weights_vmapped)))
    grouped_work = sum(len(g) * max(sizes[j] for j in g) for g in groups)

    # the data of every seed, from learning_curve's documented key contract
    seed_keys = jax.random.split(key, num_seeds)
    datasets = []
    for s in range(num_seeds):
        key_data, _, key_fit = jax.random.split(seed_keys[s], 3)
        (x, y), teacher = sample(key_data, largest)
        datasets.append((x, y, teacher, jax.random.split(key_fit, len(sizes))))
    masks = train.size_masks(sizes, largest)
    order = [(s, j) for s in range(num_seeds) for j in range(len(sizes))]
    timed = order[:: max(1, len(order) // args.loop_runs)][: args.loop_runs]

    # 2. loop over runs: the same jitted fit, once per (seed, alpha)
    def single(k, x, y, mask):
        return train.fit(k, jnp.zeros(n), loss, (x, y), optimizer, weights=mask, **options).model

    s, j = timed[0]
    jax.block_until_ready(single(datasets[s][3][j], datasets[s][0], datasets[s][1], masks[j]))  # compile
    clock = Clock()
    loop_diff = 0.0
    for s, j in timed:
        x, y, _, fit_keys = datasets[s]
        w = np.asarray(single(fit_keys[j], x, y, masks[j]))
        loop_diff = max(loop_diff, float(np.max(np.abs(w - weights_vmapped[s, j]))))
    loop_runs_wall, loop_runs_s = (t / len(timed) for t in clock.lap())

    # 3. loop over steps: one jitted gradient step per call (unpadded)
    @jax.jit
    def gd_step(w, x, y):
        return w - lr * jax.grad(lambda v: jnp.mean(jax.vmap(loss, (None, 0, 0))(v, x, y)) + penalty(v))(w)

    compiled = set()
    step_wall, step_cpu, step_runs = 0.0, 0.0, timed[: max(1, len(timed) // 4)]
    for s, j in step_runs:
        x, y = datasets[s][0][: sizes[j]], datasets[s][1][: sizes[j]]
        if sizes[j] not in compiled:
            jax.block_until_ready(gd_step(jnp.zeros(n), x, y))
            compiled.add(sizes[j])
        clock = Clock()
        w = jnp.zeros(n)
        for _ in range(num_steps):
            w = gd_step(w, x, y)
        jax.block_until_ready(w)
        wall, cpu = clock.lap()
        step_wall, step_cpu = step_wall + wall, step_cpu + cpu
    loop_steps_wall, loop_steps_s = step_wall / len(step_runs), step_cpu / len(step_runs)

    # 4. numpy, float32, unpadded
    def numpy_run(x, y):
        w = np.zeros(n, np.float32)
        for _ in range(num_steps):
            margin = y * (x @ w) / root_n
            weight = 1.0 / (1.0 + np.exp(margin))  # sigmoid(-margin) = -d softplus(-m) / dm
            grad = -(x.T @ (y * weight)) / (len(y) * root_n) + RIDGE * w / n
            w = (w - lr * grad).astype(np.float32)
        return w

    np_data = [(np.asarray(d[0]), np.asarray(d[1]), np.asarray(d[2], np.float64)) for d in datasets]
    clock = Clock()
    eps_diff = 0.0
    for s, j in timed:
        x, y, teacher = np_data[s]
        w = numpy_run(x[: sizes[j]], y[: sizes[j]]).astype(np.float64)
        eps = math.acos(float(np.clip(w @ teacher / (np.linalg.norm(w) * np.linalg.norm(teacher)), -1, 1))) / math.pi
        eps_diff = max(eps_diff, abs(eps - float(eps_vmapped[s, j])))
    numpy_wall, numpy_s = (t / len(timed) for t in clock.lap())

    rows = [
        {"name": f"jaxphys learning_curve ({len(groups)} groups)", "runs_per_s": runs / vmapped_s, "compile_s": max(first_cpu - vmapped_s, 0.0),
         "curve_s": vmapped_s, "curve_wall_s": vmapped_wall, "compile_wall_s": max(first_wall - vmapped_wall, 0.0)},
        {"name": "jaxphys learning_curve (1 group, padded)", "runs_per_s": runs / one_s, "compile_s": max(one_first_cpu - one_s, 0.0),
         "curve_s": one_s, "curve_wall_s": one_wall, "compile_wall_s": max(one_first_wall - one_wall, 0.0),
         "max_abs_weight_diff_to_grouped": group_diff},
        {"name": "loop over runs (jitted fit, padded)", "runs_per_s": 1.0 / loop_runs_s, "compile_s": None,
         "curve_s": runs * loop_runs_s, "curve_wall_s": runs * loop_runs_wall, "max_abs_weight_diff_to_vmapped": loop_diff},
        {"name": "loop over steps (jitted GD step)", "runs_per_s": 1.0 / loop_steps_s, "compile_s": None,
         "curve_s": runs * loop_steps_s, "curve_wall_s": runs * loop_steps_wall},
        {"name": "numpy float32 (unpadded)", "runs_per_s": 1.0 / numpy_s, "compile_s": 0.0, "curve_s": runs * numpy_s,
         "curve_wall_s": runs * numpy_wall, "max_abs_eps_g_diff_to_vmapped": eps_diff},
    ]  # fmt: skip
    numpy_rate = rows[-1]["runs_per_s"]
    for row in rows:
        row["speedup_vs_numpy"] = row["runs_per_s"] / numpy_rate
        row["speedup_of_vmapped"] = rows[0]["runs_per_s"] / row["runs_per_s"]
    useful = sum(sizes) * num_seeds * num_steps  # sample-gradient evaluations without padding
    rows[0]["sample_steps_per_s"] = useful / vmapped_s
    rows[1]["sample_steps_per_s"] = useful / one_s

    print(
        f"perceptron learning curve: {len(sizes)} {args.grid} alphas x {num_seeds} seeds, N = {n}, P <= {largest}, {num_steps} GD steps; "
        f"padding max(P)/mean(P) = {largest * len(sizes) / sum(sizes):.2f} in one group, "
        f"{grouped_work / sum(sizes):.2f} in {len(groups)} groups (padded to {[max(sizes[j] for j in g) for g in groups]}); "
        f"num_groups=None would use {automatic}"
    )
    print(f"loops timed on {len(timed)} runs (steps loop on {len(step_runs)}), extrapolated to the {runs} runs of the curve")
    print("times are process CPU seconds of this single-threaded process (wall in 'wall s'; load average "
          f"{machine_info()['load_average']})")
    print(f"{'row':44s} {'runs/s':>9s} {'curve s':>9s} {'wall s':>9s} {'compile s':>10s} {'x numpy':>8s} {'vmapped x':>10s}")
    for row in rows:
        c = "" if row["compile_s"] is None else f"{row['compile_s']:.2f}"
        print(
            f"{row['name']:44s} {row['runs_per_s']:9.2f} {row['curve_s']:9.2f} {row['curve_wall_s']:9.2f} {c:>10s} "
            f"{row['speedup_vs_numpy']:8.2f} {row['speedup_of_vmapped']:10.2f}"
        )
    print(
        f"useful sample-steps/s (padding not counted): {rows[0]['sample_steps_per_s']:.3g} grouped, "
        f"{rows[1]['sample_steps_per_s']:.3g} in one group"
    )
    print(
        f"max |w_loop - w_vmapped| = {loop_diff:.2e}; max |w_one_group - w_grouped| = {group_diff:.2e}; "
        f"max |eps_numpy - eps_vmapped| = {eps_diff:.2e}"
    )
    curve_mean = eps_vmapped.mean(0)
    print("alpha :", " ".join(f"{a:6.2f}" for a in alphas))
    print("eps_g :", " ".join(f"{e:6.3f}" for e in curve_mean))
    scale = max(1.0, float(np.abs(weights_vmapped).max()))
    if loop_diff > 1e-3 * scale or group_diff > 1e-3 * scale or eps_diff > 1e-3:
        raise SystemExit("the loops disagree with the vmapped call")
    write_json(args.out, {
        "benchmark": "learning_curve", "args": {k: str(v) for k, v in vars(args).items()}, "machine": machine_info(),
        "alphas": alphas.tolist(), "sizes": list(sizes), "groups": [list(g) for g in groups], "automatic_num_groups": automatic,
        "eps_g_mean": curve_mean.tolist(),
        "rows": rows,
    })  # fmt: skip


if __name__ == "__main__":
    main()
