"""Checkerboard Metropolis for the 2D Ising model at T = 2.269 (near T_c): attempted flips per ns.

Rows (each runs ``--sweeps`` full sweeps of an L x L periodic lattice from the same random start):

- numpy reference: compact sublattices (two L x L/2 int8 arrays, ``np.roll`` neighbours), float64
  uniforms from ``numpy.random.Generator``, acceptance from a table indexed by ``s * nn``.
- numba straightforward: one L x L int8 array, sites of a colour visited in a double loop with
  modulo neighbours, ``if dE <= 0 or random() < exp(-beta dE)`` (table), ``np.random`` draws.
- numba tuned: compact sublattices, branch-free, Philox4x32-10 (the same counter-based generator
  as ``jaxphys``, with native 64-bit products), one Philox call for four sites laid out as four
  quarter-rows so that the inner loop is contiguous and vectorises, uint32 thresholds.
- jaxphys ``mc.checkerboard`` with each generator, one lattice and a batch of ``--replicas``
  lattices (``jax.vmap``), the sweeps in one ``jax.jit`` with ``lax.fori_loop``.

Each row reports the best of ``--repeats`` timings (process CPU time, which on a pinned core is
the wall time minus time stolen by other processes; wall time is saved too) as flips/ns =
replicas * L^2 * sweeps / time, and its ratio to the numpy reference and to the best numba
kernel. By default the script pins itself to one core (``--cpu 0``; Linux ``sched_setaffinity``,
the same as ``taskset -c 0``) and, before importing jax, sets
``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` and ``NUMBA_NUM_THREADS=1``, so every row is a
one-core figure. ``--cpu -1`` leaves affinity and threading alone.

    python benchmarks/ising_checkerboard.py                 # L = 1024, results to benchmarks/results/
    python benchmarks/ising_checkerboard.py --quick         # L = 128, seconds, for CI

numba is optional: without it the numba rows are skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import pin_to_one_core  # noqa: E402

T_CRITICAL = 2.0 / math.log(1.0 + math.sqrt(2.0))  # Onsager, 2.2692
RESULTS = Path(__file__).resolve().parent / "results" / "ising_checkerboard.json"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--L", type=int, default=1024, help="lattice side (multiple of 8)")
    parser.add_argument("--replicas", type=int, default=8, help="lattices in the vmapped batch rows")
    parser.add_argument("--sweeps", type=int, default=20, help="sweeps per timed run")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per row (the best is kept)")
    parser.add_argument("--temperature", type=float, default=2.269)
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to; -1 to leave affinity alone")
    parser.add_argument("--quick", action="store_true", help="L = 128, 2 replicas, 4 sweeps, 2 repeats")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON file for the results")
    args = parser.parse_args(argv)
    if args.quick:
        args.L, args.replicas, args.sweeps, args.repeats = 128, 2, 4, 2
    if args.L % 8:
        parser.error("--L must be a multiple of 8")
    return args


# --------------------------------------------------------------------------------------------
# numpy reference: compact sublattices
# --------------------------------------------------------------------------------------------


def split_colours(spins):
    """Full L x L int8 lattice -> (colour 0, colour 1), each L x L/2; colour 0 at column 2k + (row mod 2)."""
    import numpy as np

    pairs = spins.reshape(spins.shape[0], -1, 2)
    odd_row = (np.arange(spins.shape[0]) % 2 == 1)[:, None]
    even = np.where(odd_row, pairs[..., 1], pairs[..., 0])
    odd = np.where(odd_row, pairs[..., 0], pairs[..., 1])
    return even, odd


def merge_colours(even, odd):
    import numpy as np

    odd_row = (np.arange(even.shape[0]) % 2 == 1)[:, None]
    return np.stack([np.where(odd_row, odd, even), np.where(odd_row, even, odd)], -1).reshape(even.shape[0], -1)


def numpy_sweeps(even, odd, beta: float, sweeps: int, seed: int):
    """Checkerboard Metropolis on compact sublattices with numpy (the reference row)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    # Acceptance probability indexed by s * nn + 4 (s * nn in {-4, ..., 4}).
    accept = np.minimum(1.0, np.exp(-2.0 * beta * np.arange(-4, 5)))
    odd_row = (np.arange(even.shape[0]) % 2 == 1)[:, None]
    for _ in range(sweeps):
        for colour, own, other in ((0, even, odd), (1, odd, even)):
            before, after = np.roll(other, 1, axis=1), np.roll(other, -1, axis=1)
            use_before = odd_row == bool(colour)
            nn = other + np.where(use_before, before, after) + np.roll(other, 1, axis=0) + np.roll(other, -1, axis=0)
            flip = rng.random(own.shape) < accept[own * nn + 4]
            own[flip] *= -1
    return even, odd


# --------------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------------


def build_numba_kernels():
    """Compile-on-first-call numba kernels, or None when numba is missing."""
    try:
        import numba
        import numpy as np
    except ImportError:
        return None

    @numba.njit(cache=False)
    def straightforward(spins, beta, sweeps, seed):
        np.random.seed(seed)
        n = spins.shape[0]
        boltzmann = np.exp(-2.0 * beta * np.arange(0, 5))  # index s * nn for dE = 2 s nn > 0
        for _ in range(sweeps):
            for colour in range(2):
                for i in range(n):
                    for j in range((i + colour) % 2, n, 2):
                        s = spins[i, j]
                        nn = spins[(i + 1) % n, j] + spins[(i - 1) % n, j]
                        nn += spins[i, (j + 1) % n] + spins[i, (j - 1) % n]
                        if s * nn <= 0 or np.random.random() < boltzmann[s * nn]:
                            spins[i, j] = -s
        return spins

    m0, m1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    w0, w1 = np.uint32(0x9E3779B9), np.uint32(0xBB67AE85)
    low32 = np.uint64(0xFFFFFFFF)
    shift32 = np.uint64(32)

    @numba.njit(inline="always")
    def philox4x32_10(c0, c1, c2, c3, k0, k1):
        for r in range(10):
            p0 = np.uint64(c0) * m0
            p1 = np.uint64(c2) * m1
            c0, c1, c2, c3 = (
                np.uint32((p1 >> shift32) ^ np.uint64(c1) ^ np.uint64(k0)),
                np.uint32(p1 & low32),
                np.uint32((p0 >> shift32) ^ np.uint64(c3) ^ np.uint64(k1)),
                np.uint32(p0 & low32),
            )
            k0 = np.uint32(k0 + w0)
            k1 = np.uint32(k1 + w1)
        return c0, c1, c2, c3

    @numba.njit(cache=False, fastmath=True, boundscheck=False)
    def philox_row(words, first_counter, colour, k0, k1):
        """Four words per counter into a (4, quarter) row buffer: word t of counter m is for site t * quarter + m."""
        for m in range(words.shape[1]):
            zero = np.uint32(0)
            r0, r1, r2, r3 = philox4x32_10(np.uint32(first_counter + m), np.uint32(colour), zero, zero, k0, k1)
            words[0, m] = r0
            words[1, m] = r1
            words[2, m] = r2
            words[3, m] = r3

    @numba.njit(cache=False, fastmath=True, boundscheck=False)
    def tuned(even, odd, thresholds, sweeps, key0, key1):
        """Compact sublattices; per row, a vectorised Philox pass into an L1-sized buffer, then a
        vectorised branch-free update (selects, no table gather) that reads it."""
        n, half = even.shape
        quarter = half // 4
        padded = np.empty(half + 2, np.int8)
        words = np.empty((4, quarter), np.uint32)
        flat_words = words.reshape(half)
        t2, t4 = thresholds[2 + 4], thresholds[4 + 4]  # s * nn = 2, 4; s * nn <= 0 always accepts
        for sweep in range(sweeps):
            k0 = np.uint32(key0 + sweep)
            k1 = np.uint32(key1)
            for colour in range(2):
                own_all = even if colour == 0 else odd
                other_all = odd if colour == 0 else even
                for i in range(n):
                    own = own_all[i]
                    other = other_all[i]
                    up = other_all[(i - 1) % n]
                    down = other_all[(i + 1) % n]
                    # Second last-axis neighbour: column k - 1 when row parity == colour, else k + 1.
                    offset = 0 if (i % 2) == colour else 2
                    padded[1 : half + 1] = other
                    padded[0] = other[half - 1]
                    padded[half + 1] = other[0]
                    philox_row(words, i * quarter, colour, k0, k1)
                    for k in range(half):
                        s = own[k]
                        sn = s * (other[k] + padded[k + offset] + up[k] + down[k])
                        threshold = t4 if sn == 4 else (t2 if sn == 2 else np.uint32(0xFFFFFFFF))
                        own[k] = -s if flat_words[k] < threshold else s
        return even, odd

    # The kernel's generator must be Philox4x32-10: check Random123's known answer for zeros.
    zero = np.uint32(0)
    assert philox4x32_10(zero, zero, zero, zero, zero, zero) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
    return straightforward, tuned


def metropolis_thresholds(beta: float):
    """uint32 T[s * nn + 4] = round(min(1, exp(-2 beta s nn)) 2^32), saturated at 2^32 - 1."""
    import numpy as np

    p = np.minimum(1.0, np.exp(-2.0 * beta * np.arange(-4, 5)))
    return np.minimum(np.floor(p * 2.0**32 + 0.5), 2.0**32 - 1).astype(np.uint32)


# --------------------------------------------------------------------------------------------
# jaxphys
# --------------------------------------------------------------------------------------------


def jaxphys_runner(generator: str, model, sweeps: int, replicas: int | None):
    """A jitted ``run(key, state, beta) -> state`` of ``sweeps`` sweeps (vmapped over replicas if given)."""
    import jax

    from jaxphys import mc

    sampler = mc.checkerboard("metropolis", generator)

    def chain(key, state, beta):
        def body(i, carry):
            state, acceptance = carry
            state, info = sampler.step(jax.random.fold_in(key, i), state, model, beta)
            return state, acceptance + info.acceptance_rate

        return jax.lax.fori_loop(0, sweeps, body, (state, 0.0))

    if replicas is None:
        return jax.jit(chain), sampler
    return jax.jit(jax.vmap(chain, in_axes=(0, 0, None))), sampler


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------


def best_time(fn, repeats: int) -> tuple[float, float]:
    """Best (CPU time, wall time) of ``repeats`` calls of ``fn`` (which must block until done)."""
    best_cpu = best_wall = math.inf
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_cpu, best_wall


def energy_per_spin(spins) -> float:
    import numpy as np

    s = spins.astype(np.int64)
    return float(-(s * np.roll(s, 1, 0) + s * np.roll(s, 1, 1)).sum() / s.size)


def main(argv=None) -> dict:
    args = parse_args(argv)
    pin_to_one_core(args.cpu)

    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxphys.models import Ising

    L, sweeps, beta = args.L, args.sweeps, 1.0 / args.temperature
    rng = np.random.default_rng(0)
    start = np.where(rng.random((L, L)) < 0.5, 1, -1).astype(np.int8)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(f"L = {L}, T = {args.temperature}, {sweeps} sweeps, best of {args.repeats}; CPU affinity {affinity}")
    rows = []

    def measure(name: str, flips: int, run, final_spins) -> None:
        """Time ``run()`` (already compiled); ``final_spins(output)`` is a full L x L lattice."""
        outputs = []
        cpu, wall = best_time(lambda: outputs.append(run()), args.repeats)
        rows.append(
            dict(
                name=name,
                flips_per_ns=flips / cpu / 1e9,
                flips_per_ns_wall=flips / wall / 1e9,
                seconds_cpu=cpu,
                seconds_wall=wall,
                energy_per_spin=energy_per_spin(np.asarray(final_spins(outputs[-1]))),
            )
        )
        print(f"  {name:44s} {flips / cpu / 1e9:8.3f} flips/ns (cpu)  {flips / wall / 1e9:8.3f} (wall)", flush=True)

    flips = L * L * sweeps
    measure("numpy compact sublattices", flips, lambda: numpy_sweeps(*split_colours(start), beta, sweeps, seed=1),
            lambda out: merge_colours(*out))

    kernels = build_numba_kernels()
    numba_names = []
    if kernels is None:
        print("  numba not installed: skipping the numba rows (pip install numba)")
    else:
        straightforward, tuned = kernels
        thresholds = metropolis_thresholds(beta)
        straightforward(start.copy(), beta, 1, 0)  # compile
        tuned(*split_colours(start), thresholds, 1, np.uint32(1), np.uint32(2))
        numba_names = ["numba straightforward", "numba tuned (compact, Philox, branch-free)"]
        measure(numba_names[0], flips, lambda: straightforward(start.copy(), beta, sweeps, 1), lambda out: out)
        measure(numba_names[1], flips, lambda: tuned(*split_colours(start), thresholds, sweeps, np.uint32(1), np.uint32(2)),
                lambda out: merge_colours(*out))

    model = Ising((L, L))
    beta_j = jnp.asarray(beta, jnp.result_type(float))
    for generator in ("threefry", "philox", "threefry_fused"):
        for replicas in (None, args.replicas):
            run, sampler = jaxphys_runner(generator, model, sweeps, replicas)
            if replicas is None:
                state = sampler.init(model, jnp.asarray(start))
                key, label, count = jax.random.key(1), f"jaxphys {generator}", flips
                first = lambda out: out[0].spins
            else:
                starts = jnp.asarray(np.stack([np.roll(start, r, axis=0) for r in range(replicas)]))
                state = jax.vmap(sampler.init, in_axes=(None, 0))(model, starts)
                key = jax.random.split(jax.random.key(1), replicas)
                label, count = f"jaxphys {generator} x{replicas} (vmap)", replicas * flips
                first = lambda out: out[0].spins[0]
            jax.block_until_ready(run(key, state, beta_j))  # compile
            measure(label, count, lambda: jax.block_until_ready(run(key, state, beta_j)), first)

    reference = rows[0]["flips_per_ns"]
    numba_rows = [r for r in rows if r["name"] in numba_names]
    best_numba = max((r["flips_per_ns"] for r in numba_rows), default=None)
    for r in rows:
        r["vs_numpy"] = r["flips_per_ns"] / reference
        r["vs_best_numba"] = None if best_numba is None else r["flips_per_ns"] / best_numba

    print()
    print(f"{'':44s} {'flips/ns':>9s} {'x numpy':>8s} {'x best numba':>13s}  E/N after {sweeps} sweeps (first lattice)")
    for r in rows:
        vs_numba = "" if r["vs_best_numba"] is None else f"{r['vs_best_numba']:13.2f}"
        row = f"{r['name']:44s} {r['flips_per_ns']:9.3f} {r['vs_numpy']:8.2f} {vs_numba:>13s}"
        print(f"{row}  {r['energy_per_spin']:.4f}")

    result = dict(
        benchmark="ising_checkerboard",
        L=L,
        temperature=args.temperature,
        sweeps=sweeps,
        replicas=args.replicas,
        repeats=args.repeats,
        timing="best of repeats; flips_per_ns from process CPU time, flips_per_ns_wall from wall time",
        one_core=dict(
            cpu=args.cpu,
            affinity=affinity,
            XLA_FLAGS=os.environ.get("XLA_FLAGS", ""),
            NUMBA_NUM_THREADS=os.environ.get("NUMBA_NUM_THREADS"),
        ),
        machine=dict(
            processor=_cpu_model(),
            platform=platform.platform(),
            python=sys.version.split()[0],
            jax=jax.__version__,
            numpy=np.__version__,
            numba=_numba_version(),
            load_average=os.getloadavg(),
        ),
        rows=rows,
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nsaved {args.output}")
    return result


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _numba_version():
    try:
        import numba

        return numba.__version__
    except ImportError:
        return None


if __name__ == "__main__":
    main()
