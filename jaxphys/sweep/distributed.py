"""Multi-host sweeps: which chunks a process owns, and gathering every chunk on every process.

With ``jax.distributed.initialize(...)`` called beforehand (one process per host, or several on
one machine), ``jax.process_count() > 1`` and :func:`jaxphys.sweep.run` splits the chunks round
robin: process ``p`` computes chunks ``p, p + P, p + 2P, ...`` on its own local devices. The
finished chunks are then exchanged with
``jax.experimental.multihost_utils.process_allgather`` (a collective over all processes; on CPU
it needs cross-process collectives, ``jax.config.update("jax_cpu_collectives_implementation",
"gloo")`` before ``jax.distributed.initialize``, the default in recent jax), so every process
returns the full result.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np


def process_index() -> int:
    return jax.process_index()


def process_count() -> int:
    return jax.process_count()


def owned_chunks(num_chunks: int, index: int, count: int) -> range:
    """Chunks computed by process ``index`` of ``count`` (round robin)."""
    return range(index, num_chunks, count)


def gather_chunks(flat: Sequence[np.ndarray], num_chunks: int, chunk_size: int) -> None:
    """Fill in, on every process, the chunks the other processes computed (in place).

    Args:
        flat: one array per output leaf, shape ``(num_chunks * chunk_size, *leaf_shape)``, where
            this process has written the chunks it owns (:func:`owned_chunks`); the others are
            overwritten with the owners' values. Every process must call this (a collective).
        num_chunks, chunk_size: the sweep's chunking.
    """
    count, index = process_count(), process_index()
    if count == 1:
        return
    per_process = -(-num_chunks // count)
    # Every process sends the same shapes, (per_process, chunk_size, *leaf_shape), zero padded
    # where it owns one chunk fewer; the padding is never read back.
    blocks = []
    for target in flat:
        block = np.zeros((per_process, chunk_size, *target.shape[1:]), target.dtype)
        for slot, chunk in enumerate(owned_chunks(num_chunks, index, count)):
            block[slot] = target[chunk * chunk_size : (chunk + 1) * chunk_size]
        blocks.append(block)
    from jax.experimental import multihost_utils

    gathered = multihost_utils.process_allgather(blocks, tiled=False)  # each (count, per_process, chunk_size, ...)
    for target, g in zip(flat, gathered):
        g = np.asarray(g)
        for chunk in range(num_chunks):
            owner, slot = chunk % count, chunk // count
            target[chunk * chunk_size : (chunk + 1) * chunk_size] = g[owner, slot]
