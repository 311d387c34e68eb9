"""Parameter sweeps: ``fn(key, point)`` over a grid times disorder/thermal replicas.

``run(fn, grid, key=..., replicas=...)`` vmaps ``fn`` over chunks of (point, replica) items,
jitted once and sharded over the local devices, shares chunks between ``jax.distributed``
processes, checkpoints finished chunks, and returns a :class:`SweepResult` with named axes,
replica means and standard errors, ``save``/``load`` (npz + JSON sidecar) and ``plot``.
The key of item ``i`` is ``jax.random.fold_in(key, i)``, so results do not depend on the
chunk size, device count or process count.

Example::

    import jax, jax.numpy as jnp, numpy as np
    from jaxphys import sweep

    def fn(key, point):
        x = point["sigma"] * jax.random.normal(key, (100,))
        return {"mean_sq": jnp.mean(x**2)}

    result = sweep.run(fn, {"sigma": np.linspace(0.5, 2.0, 4)}, key=jax.random.key(0), replicas=8)
    result.mean["mean_sq"]      # (4,)  average over the 8 replicas
    result.stderr["mean_sq"]    # (4,)
    result.save("out/sigma")    # out/sigma.npz + out/sigma.json
"""

from .grid import Grid as Grid, make_grid as make_grid
from .results import SweepResult as SweepResult, load as load
from .run import run as run
