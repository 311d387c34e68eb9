"""Subprocess helper of tests/test_sweep.py (not a test module).

    python _sweep_worker.py devices OUT [CHUNK]       sweep on all local devices, save to OUT
    python _sweep_worker.py distributed PID PORT OUT [CHECKPOINT]  process PID of a 2-process jax.distributed sweep
    python _sweep_worker.py kill CHECKPOINT X         checkpointed sweep that dies (os._exit) at the first x >= X

The sweep (``sweep_fn``, ``GRID``, ``KEY_SEED``, ``REPLICAS``, ``CHUNK_SIZE``) is shared with
the tests so they can compare with an in-process run.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxphys import status as st  # noqa: E402

GRID = {"x": np.arange(5, dtype=np.float64), "scale": np.array([0.5, 1.5])}  # 10 points
REPLICAS = 3  # 30 items
CHUNK_SIZE = 4  # 8 chunks
KEY_SEED = 1234


def sweep_fn(key, point):
    """Arithmetic mixing the key and the point; flags status when the first draw is large."""
    k1, k2 = jax.random.split(key)
    z = jax.random.normal(k1, (6,))
    u = jax.random.uniform(k2)
    y = point["scale"] * jnp.cumsum(jnp.sin(z + point["x"])) + jnp.exp(-u * point["x"])
    status = st.flag(st.ok(), st.Status.NAN, z[0] > 1.5)
    return {"y": y, "total": jnp.sum(y**2), "count": jnp.sum(z > 0), "status": status}


def killing_fn(kill_at_x: float):
    """``sweep_fn`` that kills the process (as a crash would) when it reaches ``x >= kill_at_x``."""

    def die_if(x):
        if np.any(np.asarray(x) >= kill_at_x):
            os._exit(17)

    def fn(key, point):
        jax.debug.callback(die_if, point["x"])
        return sweep_fn(key, point)

    return fn


def main(argv):
    mode = argv[0]
    from jaxphys import sweep

    if mode == "devices":
        chunk_size = int(argv[2]) if len(argv) > 2 else CHUNK_SIZE
        result = sweep.run(sweep_fn, GRID, key=jax.random.key(KEY_SEED), replicas=REPLICAS, chunk_size=chunk_size, progress=False)
        result.save(argv[1])
    elif mode == "distributed":
        pid, port, out = int(argv[1]), argv[2], argv[3]
        checkpoint = argv[4] if len(argv) > 4 else None
        jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2, process_id=pid)
        result = sweep.run(
            sweep_fn, GRID, key=jax.random.key(KEY_SEED), replicas=REPLICAS, chunk_size=CHUNK_SIZE, checkpoint=checkpoint, progress=False
        )
        result.save(f"{out}_{pid}")
        jax.distributed.shutdown()
    elif mode == "kill":
        checkpoint, kill_at_x = argv[1], float(argv[2])
        sweep.run(
            killing_fn(kill_at_x),
            GRID,
            key=jax.random.key(KEY_SEED),
            replicas=REPLICAS,
            chunk_size=CHUNK_SIZE,
            checkpoint=checkpoint,
            progress=False,
        )
        sys.exit(0)  # not reached when the kill point is inside the grid
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
