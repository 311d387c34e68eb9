"""The sweep engine: ``fn(key, point)`` over a grid of points times replicas, chunked and sharded.

Work items are the pairs (point, replica), flattened in a fixed global order::

    global_index = point_index * replicas + replica        (point_index in the grid's C order)

and the key of each item is ``jax.random.fold_in(key, global_index)``. Items are cut into chunks
of ``chunk_size``; one function ``vmap(fn)`` over a chunk is jitted once (the last chunk is
padded to the same size with copies of the last item, and the padding is dropped), and each
chunk is sharded over the local devices (a 1-D ``jax.sharding.Mesh`` with a ``NamedSharding``
on the item axis). Since every item sees the same key and point whatever the chunking, results
are bitwise identical for any chunk size, device count or process count (as long as XLA
computes an item the same way in every batch, true for the per-item arithmetic of samplers).

Host memory holds the results as numpy arrays; the device holds one chunk at a time. With
``checkpoint="DIR"`` finished chunks are written as they complete (see
:mod:`jaxphys.sweep.checkpoint`) and a rerun resumes, skipping finished chunks. With several
processes (``jax.distributed``) chunks are shared round robin and gathered on every process
(see :mod:`jaxphys.sweep.distributed`).
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._validate import as_count
from ..status import Status
from . import distributed
from .checkpoint import Checkpoint
from .grid import make_grid
from .results import SweepResult, from_flat, leaf_paths

_ITEM_AXIS = "items"  # the mesh axis the chunk's items are sharded over
_MAX_ITEMS = 2**31 - 1  # global indices are int32 inside the jitted chunk function
_ALIGN = 16  # per-device batches are padded to a multiple of this (see run)

_TRACE_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.TracerArrayConversionError,
)


def _check_key(key) -> tuple[jax.Array, bytes, str]:
    """The key as a jax array, its raw data bytes and its implementation name (for the fingerprint)."""
    if key is None:
        raise TypeError("key is required: pass key=jax.random.key(seed)")
    try:
        key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    except TypeError:
        raise TypeError(f"key must be a jax.random.key (typed key array), got {type(key).__name__}") from None
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single key (shape ()), got shape {key.shape}; the sweep splits it itself")
        return key, np.asarray(jax.random.key_data(key)).tobytes(), str(jax.random.key_impl(key))
    if key.dtype == jnp.uint32 and key.shape == (2,):  # legacy raw threefry key from jax.random.PRNGKey
        return key, np.asarray(key).tobytes(), "raw_uint32"
    raise TypeError(f"key must be a jax.random.key(seed) (or a raw PRNGKey of shape (2,) uint32), got dtype {key.dtype} shape {key.shape}")


def _local_devices(devices) -> list:
    local = jax.local_devices()
    if devices is None:
        return local
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        count = as_count(devices, "devices")
        if count > len(local):
            raise ValueError(f"devices={count} but this process has only {len(local)} local device(s): {local}")
        return local[:count]
    devices = list(devices)
    if not devices:
        raise ValueError("devices is empty; pass None for all local devices, a count, or a list of jax devices")
    for d in devices:
        if d not in local:
            raise ValueError(f"device {d} is not a local device of this process ({local}); pass local devices only")
    return devices


def _chunk_function(fn: Callable):
    """``(key, indices (C,), points name -> (C,)) -> pytree of (C, ...)``, the vmapped item function."""

    def item(key, index, point):
        out = fn(jax.random.fold_in(key, index), point)
        with_paths, treedef = jax.tree_util.tree_flatten_with_path(out)
        if not with_paths:
            raise ValueError("fn returned no arrays (an empty pytree); it must return at least one array")
        leaves = []
        for path, leaf in with_paths:
            if not isinstance(leaf, (jax.Array, np.ndarray, np.generic, bool, int, float, complex)):
                where = jax.tree_util.keystr(path) or "the output"
                raise TypeError(
                    f"fn returned a {type(leaf).__name__} at {where}; fn must return a pytree whose leaves are arrays or numbers "
                    "(convert with jnp.asarray; keep strings and other metadata out of the output)"
                )
            leaves.append(jnp.asarray(leaf))
        return jax.tree_util.tree_unflatten(treedef, leaves)

    def chunk(key, indices, points):
        return jax.vmap(item, in_axes=(None, 0, 0))(key, indices, points)

    return chunk


@functools.lru_cache(maxsize=64)
def _compiled_chunk(fn: Callable, sharded, replicated):
    """The vmapped chunk function and its jit, cached so repeated sweeps of one ``fn`` (same
    devices) compile once: jax caches compilations per function object."""
    chunk_fn = _chunk_function(fn)
    return chunk_fn, jax.jit(chunk_fn, in_shardings=(replicated, sharded, sharded), out_shardings=sharded)


def _cache_size(compiled) -> int:
    try:
        return int(compiled._cache_size())
    except Exception:  # private jax API; only informative
        return -1


def _trace_error(error: Exception) -> ValueError:
    return ValueError(
        "fn could not be traced: the point values are traced JAX scalars, so Python control flow (if/int()/range) and "
        "array shapes cannot depend on them, and fn's output shapes must be the same at every point. Use jnp.where/lax.cond "
        "for branches; for a size that varies, run one sweep per size or close over it with functools.partial. "
        f"(JAX said: {type(error).__name__}: {str(error).splitlines()[0]})"
    )


def run(
    fn: Callable[[jax.Array, dict[str, jax.Array]], Any],
    grid: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    key,
    replicas: int = 1,
    chunk_size: int | None = None,
    checkpoint: str | None = None,
    devices=None,
    progress: bool = True,
) -> SweepResult:
    """Evaluate ``fn(key, point)`` at every grid point for ``replicas`` independent keys.

    The items (point, replica) are ordered ``global_index = point_index * replicas + replica``
    (points in the grid's C order, last axis fastest) and item ``i`` gets the key
    ``jax.random.fold_in(key, i)``; so results are bitwise the same for any ``chunk_size``,
    number of devices or of processes. Chunks of ``chunk_size`` items run as one jitted
    ``vmap(fn)``, compiled once, sharded over ``devices``.

    Args:
        fn: ``fn(key, point) -> pytree of arrays``; ``key`` is a typed PRNG key, ``point`` a dict
            name -> 0-d jax array (float grids arrive in jax's default float dtype). Output shapes
            must not depend on the point. A leaf named ``"status"`` (int32 bitmask of
            :mod:`jaxphys.status`) is OR-ed over replicas in the summary and counted in
            ``num_bad``; a bad item never stops the sweep.
        grid: dict ``name -> 1-D array`` (outer product in dict order; result axes = the names)
            or a list of dicts ``name -> scalar`` with the same names (one result axis
            ``"point"``). See :mod:`jaxphys.sweep.grid`.
        key: ``jax.random.key(seed)``.
        replicas: independent items per point (>= 1): the last result axis ``"replica"``.
        chunk_size: items per jitted call; default all items in one chunk. Rounded up to a
            multiple of the number of devices, and capped at the number of items (so rounded).
            Smaller chunks bound device memory; the result does not depend on it.
        checkpoint: directory to write finished chunks to and resume from (see
            :mod:`jaxphys.sweep.checkpoint`); resuming with a different grid, replicas,
            effective chunk size or key raises ``ValueError``.
        devices: None (all local devices), a count (the first ``n`` local devices), or a list
            of local ``jax.Device``.
        progress: show a tqdm bar over chunks (on process 0 only).

    Returns:
        :class:`jaxphys.sweep.SweepResult` with axes ``(*grid axes, "replica")``, per-item
        ``values``, replica ``mean`` and ``stderr``, ``status``/``bad``/``num_bad``, and ``info``
        (``chunks_computed`` / ``chunks_loaded`` count the chunks this process computed or read
        from the checkpoint).

    Raises:
        TypeError: ``fn`` not callable, a bad key, non-numeric grid values, non-array output leaves.
        ValueError: an empty grid or axis, a non-1-D axis, NaN in the grid, points with
            different names, ``replicas < 1``, ``chunk_size < 1``, unknown devices, an ``fn``
            whose output shape depends on the point, a checkpoint of another sweep.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable as fn(key, point) -> pytree of arrays, got {type(fn).__name__}")
    checked = make_grid(grid)
    replicas = as_count(replicas, "replicas")
    key, key_bytes, key_impl = _check_key(key)
    devices = _local_devices(devices)
    num_devices = len(devices)
    num_items = checked.num_points * replicas
    if num_items > _MAX_ITEMS:
        raise ValueError(f"{num_items} items (points x replicas) exceed 2^31 - 1; split the sweep")
    rounded_items = -(-num_items // num_devices) * num_devices
    chunk_size = rounded_items if chunk_size is None else as_count(chunk_size, "chunk_size")
    chunk_size = min(-(-chunk_size // num_devices) * num_devices, rounded_items)
    num_chunks = -(-num_items // chunk_size)

    # Point values in jax's canonical dtypes (float64 -> float32 without x64), flattened in order.
    point_values = {
        n: np.asarray(v, dtype=jax.dtypes.canonicalize_dtype(np.asarray(v).dtype)) for n, v in checked.point_values().items()
    }

    mesh = Mesh(np.asarray(devices), (_ITEM_AXIS,))
    sharded = NamedSharding(mesh, PartitionSpec(_ITEM_AXIS))
    replicated = NamedSharding(mesh, PartitionSpec())
    chunk_fn, compiled = _compiled_chunk(fn, sharded, replicated)
    compiled_before = _cache_size(compiled)

    # Each device computes its share of a chunk as a batch padded to a multiple of _ALIGN items:
    # XLA's CPU kernels vectorise over the batch, and an unaligned batch rounds its tail elements
    # differently (1-ulp differences in sin/exp seen with jax 0.12), which would make results
    # depend on the chunk size and device count. The padding is dropped after the call.
    per_device = chunk_size // num_devices
    padded = -(-per_device // _ALIGN) * _ALIGN

    def chunk_inputs(chunk: int):
        indices = np.arange(chunk * chunk_size, (chunk + 1) * chunk_size, dtype=np.int64).reshape(num_devices, per_device)
        indices = np.concatenate([indices, np.repeat(indices[:, -1:], padded - per_device, axis=1)], axis=1).reshape(-1)
        indices = np.minimum(indices, num_items - 1).astype(np.int32)  # padding repeats the last item
        points = {n: v[indices // replicas] for n, v in point_values.items()}
        return indices, points

    def unpad(leaf) -> np.ndarray:
        leaf = np.asarray(leaf)
        return leaf.reshape(num_devices, padded, *leaf.shape[1:])[:, :per_device].reshape(chunk_size, *leaf.shape[1:])

    indices0, points0 = chunk_inputs(0)
    try:
        out_shape = jax.eval_shape(chunk_fn, key, indices0, points0)
    except _TRACE_ERRORS as error:
        raise _trace_error(error) from error
    names, entries = leaf_paths(out_shape)
    out_leaves, treedef = jax.tree_util.tree_flatten(out_shape)
    templates = [((chunk_size, *s.shape[1:]), np.dtype(s.dtype)) for s in out_leaves]
    outputs = [[n, list(shape[1:]), dtype.str] for n, (shape, dtype) in zip(names, templates)]

    store = None
    if checkpoint is not None:
        fingerprint = hashlib.sha256()
        for part in (checked.fingerprint(), str(replicas), str(chunk_size), key_impl):
            fingerprint.update(part.encode() + b"|")
        fingerprint.update(key_bytes)
        settings = {
            "grid_kind": checked.kind,
            "names": list(checked.names),
            "grid_shape": list(checked.shape),
            "grid_sha256": checked.fingerprint(),
            "replicas": replicas,
            "chunk_size": chunk_size,
            "key_sha256": hashlib.sha256(key_bytes + key_impl.encode()).hexdigest(),
        }
        store = Checkpoint(checkpoint, fingerprint.hexdigest(), settings, outputs)

    process, num_processes = distributed.process_index(), distributed.process_count()
    owned = distributed.owned_chunks(num_chunks, process, num_processes)
    # Host results, padded to whole chunks: each finished chunk is copied in and leaves the device.
    flat = [np.empty((num_chunks * chunk_size, *shape[1:]), dtype) for shape, dtype in templates]
    computed = loaded = 0
    bar = None
    if progress and process == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(owned), desc="sweep chunks", unit="chunk")
    device_key = jax.device_put(key, replicated)
    try:
        for chunk in owned:
            leaves = store.load(chunk, templates) if store is not None else None
            if leaves is None:
                indices, points = chunk_inputs(chunk)
                try:
                    out = compiled(device_key, jax.device_put(indices, sharded), jax.device_put(points, sharded))
                except _TRACE_ERRORS as error:
                    raise _trace_error(error) from error
                leaves = [unpad(leaf) for leaf in jax.tree_util.tree_leaves(out)]  # blocks: one chunk on device
                del out
                if store is not None:
                    store.save(chunk, leaves)
                computed += 1
            else:
                loaded += 1
            for target, leaf in zip(flat, leaves):
                target[chunk * chunk_size : (chunk + 1) * chunk_size] = leaf
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    distributed.gather_chunks(flat, num_chunks, chunk_size)
    values = {
        name: target[:num_items].reshape(*checked.shape, replicas, *target.shape[1:]) for name, target in zip(names, flat)
    }
    compilations = _cache_size(compiled)
    compilations = -1 if compilations < 0 else compilations - compiled_before
    info = {
        "num_items": num_items,
        "num_chunks": num_chunks,
        "chunk_size": chunk_size,
        "num_devices": num_devices,
        "num_processes": num_processes,
        "chunks_computed": computed,
        "chunks_loaded": loaded,
        "compilations": compilations,  # new compilations in this call (0: reused, -1: unknown)
    }
    result = from_flat(checked, values, names, entries, info, treedef=treedef)
    serious = result.status is not None and np.any(result.status & ~np.int32(Status.UNRELIABLE_ERROR))
    if serious:  # an error bar that did not plateau is advisory: it stays in result.status, unwarned
        warnings.warn(
            f"jaxphys.sweep: {result.describe_status()} (the sweep went on; see result.bad and result.status)",
            RuntimeWarning,
            stacklevel=2,
        )
    return result

