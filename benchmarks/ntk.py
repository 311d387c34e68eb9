"""Empirical NTK of an MLP: jaxphys.ntk.empirical_ntk's implementations against a plain Jacobian contraction.

Network: :class:`jaxphys.ntk.MLP`, input dimension 512, ``depth = 3`` hidden layers of width 512, scalar output,
ReLU, NTK parameterisation, float32 (about 0.79 M parameters); kernel ``Theta(x, x)`` of ``B = 256`` Gaussian
inputs, shape ``(256, 256)``. One core, single-threaded XLA (``--cpu``).

Rows (seconds per kernel, best of ``--repeats`` after compilation; ``x ref`` = reference time / row time, so > 1
is faster; max relative difference to the reference; memory = temp + output bytes of the compiled executable,
``compiled.memory_analysis()``):

1. ``reference``: ``jax.vmap(jax.jacrev(f))`` over the whole batch and an einsum over the parameters, written
   here, one jitted function (the full ``B x P`` Jacobian in memory).
2. ``jaxphys <implementation>``: ``empirical_ntk(model, x, implementation=...)`` for ``jacobian`` (one block:
   the batch's Jacobian fits the default 1 GiB cap), ``jacobian`` with ``block_size = B/4`` (memory bounded by
   two blocks of Jacobians), ``ntk_vector``, ``structured`` and ``auto`` (which picks ``structured`` for an MLP).
3. ``--neural-tangents``: the same network and weights in neural-tangents (``empirical_ntk_fn`` with
   ``trace_axes=()``, ``vmap_axes=0``, each of its implementations 1 = Jacobian contraction, 2 = NTK-vector
   products, 3 = structured derivatives), run by ``--nt-python`` (a virtual environment with jax 0.5.3, since
   neural-tangents does not import on JAX >= 0.6), pinned to the same core; its rows give the ratio to the
   jaxphys reference row and to the neural-tangents Jacobian row measured in that process. neural-tangents 0.6.5's
   structured implementation (3) fails on jax 0.5.3 and on jax 0.4.26 alike (``AttributeError: module
   'jax.interpreters.ad' has no attribute 'source_info_util'``); the failure is reported and its row left out.

    python benchmarks/ntk.py                       # B = 256, width 512; JSON to benchmarks/results/ntk.json
    python benchmarks/ntk.py --quick               # B = 32, width 64, seconds
    python benchmarks/ntk.py --neural-tangents     # adds the neural-tangents rows (needs /tmp/nt_env)

The neural-tangents environment: ``python3.11 -m venv /tmp/nt_env && /tmp/nt_env/bin/pip install
"jax[cpu]==0.5.3" neural-tangents``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_info, pin_to_one_core, write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "ntk.json"
IMPLEMENTATIONS = ("jacobian", "jacobian/4", "ntk_vector", "structured", "auto")  # "/4": block_size = B // 4


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="B: number of inputs")
    parser.add_argument("--in-size", type=int, default=512, help="input dimension")
    parser.add_argument("--width", type=int, default=512, help="hidden width")
    parser.add_argument("--depth", type=int, default=3, help="number of hidden layers")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (the best is kept)")
    parser.add_argument("--cpu", type=int, default=0, help="pin to this core, single-threaded (-1: leave alone)")
    parser.add_argument("--quick", action="store_true", help="B = 32, in-size = width = 64, 2 repeats")
    parser.add_argument("--neural-tangents", action="store_true", help="also time neural-tangents (see --nt-python)")
    parser.add_argument("--nt-python", default="/tmp/nt_env/bin/python", help="python of an env with neural-tangents")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.in_size, args.width, args.repeats = 32, 64, 64, 2
    return args


def memory_bytes(compiled) -> int | None:
    """Temp + output bytes of a compiled executable (``None`` if the backend does not say)."""
    stats = compiled.memory_analysis()
    if stats is None:
        return None
    return int(stats.temp_size_in_bytes + stats.output_size_in_bytes)


def time_compiled(fn, args, repeats):
    """``(compile_s, best_run_s, result, memory_bytes)`` of ``jax.jit(fn)`` on ``args``."""
    import jax

    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    out = jax.block_until_ready(compiled(*args))
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
    return compile_s, min(runs), out, memory_bytes(compiled)


def reference_kernel(model, x):
    """Plain Jacobian contraction: per-example Jacobians of the whole batch, then one einsum per parameter leaf."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    params, static = eqx.partition(model, eqx.is_inexact_array)
    jac = jax.vmap(jax.jacrev(lambda p, xi: eqx.combine(p, static)(xi)), in_axes=(None, 0))(params, x)
    leaves = [leaf.reshape(x.shape[0], -1) for leaf in jax.tree_util.tree_leaves(jac)]
    return sum(jnp.einsum("ap,bp->ab", leaf, leaf) for leaf in leaves)


# The neural-tangents side, run by --nt-python: the same MLP (NTK parameterisation, ReLU, scalar output) as a pure
# function of the weights saved by the parent, timed the same way; prints one JSON line.
NT_SCRIPT = r"""
import json, sys, time
import numpy as np
import jax, jax.numpy as jnp
import neural_tangents as nt

data = np.load(sys.argv[1])
repeats = int(sys.argv[2])
depth = int(data["depth"])
params = [(jnp.asarray(data[f"w{l}"]), jnp.asarray(data[f"b{l}"])) for l in range(depth + 1)]
scales = [(float(s_w), float(s_b)) for s_w, s_b in data["scales"]]
x = jnp.asarray(data["x"])

def apply_fn(params, x):  # a batch (B, n0) -> (B, 1), as jaxphys.ntk.MLP applied to each row
    h = x
    for l, ((w, b), (s_w, s_b)) in enumerate(zip(params, scales)):
        z = s_w * h @ w.T + s_b * b
        h = jax.nn.relu(z) if l < depth else z
    return h

rows = []
for impl in (1, 2, 3):
    try:
        fn = nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0, implementation=impl)
        f = lambda x, p: fn(x, None, p)
        start = time.perf_counter()
        compiled = jax.jit(f).lower(x, params).compile()
        compile_s = time.perf_counter() - start
        out = jax.block_until_ready(compiled(x, params))
    except Exception as error:  # report and go on with the other implementations
        rows.append({"implementation": impl, "error": f"{type(error).__name__}: {error}"[:300]})
        continue
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(x, params))
        runs.append(time.perf_counter() - start)
    stats = compiled.memory_analysis()
    memory = None if stats is None else int(stats.temp_size_in_bytes + stats.output_size_in_bytes)
    np.save(sys.argv[1] + f".kernel{impl}.npy", np.asarray(out).reshape(x.shape[0], x.shape[0]))
    rows.append({"implementation": impl, "compile_s": compile_s, "run_s": min(runs), "memory_bytes": memory})
print("NT_RESULT " + json.dumps({"jax": jax.__version__, "neural_tangents": nt.__version__, "rows": rows}))
"""

NT_NAMES = {1: "neural-tangents jacobian (1)", 2: "neural-tangents ntk_vector (2)", 3: "neural-tangents structured (3)"}


def neural_tangents_rows(args, model, x, reference):
    """Run :data:`NT_SCRIPT` with ``args.nt_python`` on the same weights; rows, or ``None`` if it cannot run."""
    import numpy as np

    if not Path(args.nt_python).exists():
        print(f"neural-tangents: {args.nt_python} not found (create the environment, see the module docstring)")
        return None, None
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "weights.npz")
        arrays = {f"w{l}": np.asarray(w) for l, w in enumerate(model.weights)}
        arrays |= {f"b{l}": np.asarray(b) for l, b in enumerate(model.biases)}
        np.savez(path, x=np.asarray(x), depth=len(model.weights) - 1, scales=np.asarray(model.layer_scales()), **arrays)
        proc = subprocess.run([args.nt_python, "-c", NT_SCRIPT, path, str(args.repeats)], capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("NT_RESULT ")]
        if proc.returncode != 0 or not lines:
            print(f"neural-tangents failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
            return None, None
        result = json.loads(lines[-1][len("NT_RESULT ") :])
        ref = np.asarray(reference)
        failed = [row for row in result["rows"] if "error" in row]
        for row in failed:
            print(f"neural-tangents implementation {row['implementation']} failed: {row['error']}")
        result["failed"] = failed
        result["rows"] = [row for row in result["rows"] if "error" not in row]
        for row in result["rows"]:
            kernel = np.load(path + f".kernel{row['implementation']}.npy")
            row["name"] = NT_NAMES[row["implementation"]]
            row["max_rel_diff"] = float(np.max(np.abs(kernel - ref)) / np.max(np.abs(ref)))
    return result["rows"], {"jax": result["jax"], "neural_tangents": result["neural_tangents"], "failed": result["failed"]}


def main(argv=None):
    args = parse_args(argv)
    pin_to_one_core(args.cpu)
    import jax
    import numpy as np

    from jaxphys.ntk import MLP, empirical_ntk

    key_model, key_x = jax.random.split(jax.random.key(0))
    model = MLP(key_model, args.in_size, args.width, None, depth=args.depth, activation="relu", dtype=np.float32)
    x = jax.random.normal(key_x, (args.batch, args.in_size), np.float32)
    num_params = sum(leaf.size for leaf in jax.tree_util.tree_leaves(model))

    compile_ref, run_ref, ref, memory_ref = time_compiled(reference_kernel, (model, x), args.repeats)
    ref_np = np.asarray(ref)
    rows = [{"name": "reference (vmap jacrev + einsum)", "compile_s": compile_ref, "run_s": run_ref, "memory_bytes": memory_ref}]
    for impl in IMPLEMENTATIONS:
        block = max(1, args.batch // 4) if impl.endswith("/4") else None
        name = f"jaxphys jacobian, block_size={block}" if block else f"jaxphys {impl}"
        fn = lambda m, x, impl=impl.split("/")[0], block=block: empirical_ntk(m, x, implementation=impl, block_size=block)  # noqa: E731
        compile_s, run_s, out, memory = time_compiled(fn, (model, x), args.repeats)
        rows.append({"name": name, "compile_s": compile_s, "run_s": run_s, "memory_bytes": memory, "kernel": out})
    for row in rows:
        kernel = np.asarray(row.pop("kernel", ref_np))
        row["max_rel_diff"] = float(np.max(np.abs(kernel - ref_np)) / np.max(np.abs(ref_np)))

    versions = None
    if args.neural_tangents:
        nt_rows, versions = neural_tangents_rows(args, model, x, ref_np)
        if nt_rows:
            nt_jacobian = nt_rows[0]["run_s"]  # implementation 1 (the first row) when it ran
            for row in nt_rows:
                row["x_nt_first"] = nt_jacobian / row["run_s"]
            rows += nt_rows
    for row in rows:
        row["x_reference"] = run_ref / row["run_s"]

    print(
        f"empirical NTK, MLP {args.in_size} -> {args.depth} x {args.width} -> 1 (relu, NTK param, float32, "
        f"{num_params} parameters), B = {args.batch}, kernel {args.batch} x {args.batch}, one core"
    )
    print(f"{'row':34s} {'compile s':>10s} {'run s':>9s} {'x ref':>8s} {'memory MB':>10s} {'max rel diff':>13s}")
    for row in rows:
        memory = "-" if row["memory_bytes"] is None else f"{row['memory_bytes'] / 2**20:10.1f}"
        print(
            f"{row['name']:34s} {row['compile_s']:10.2f} {row['run_s']:9.4f} {row['x_reference']:8.1f} {memory:>10s} "
            f"{row['max_rel_diff']:13.1e}"
        )
    if versions:
        print(f"neural-tangents {versions['neural_tangents']} on jax {versions['jax']} (separate environment)")
        for jaxphys_name, nt_name in (("jaxphys jacobian", 1), ("jaxphys ntk_vector", 2), ("jaxphys structured", 3)):
            ours = next(r for r in rows if r["name"] == jaxphys_name)
            theirs = next((r for r in rows if r["name"] == NT_NAMES[nt_name]), None)
            if theirs:
                print(f"  {jaxphys_name:22s} vs {theirs['name']:32s}: {theirs['run_s'] / ours['run_s']:6.2f} x faster")
    write_json(
        args.out,
        {
            "benchmark": "ntk",
            "args": {k: str(v) for k, v in vars(args).items()},
            "machine": machine_info(),
            "num_params": num_params,
            "neural_tangents": versions,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
