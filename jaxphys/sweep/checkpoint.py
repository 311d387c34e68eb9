"""Checkpoint directory of a sweep: a manifest plus one ``.npz`` file per finished chunk.

Layout of ``checkpoint="DIR"``::

    DIR/manifest.json         {"format": "jaxphys.sweep.checkpoint", "version": 1,
                               "fingerprint": sha256 hex, "settings": {...}, "outputs": [...]}
    DIR/chunk_000000.npz      leaves of chunk 0 in pytree-flatten order, keys "leaf_0", "leaf_1", ...
    DIR/chunk_000001.npz      each leaf has shape (chunk_size, *leaf_shape), padding included
    ...

The fingerprint hashes the grid values (names, dtypes, values), the number of replicas, the
effective chunk size and the key data, so resuming with different settings raises instead of
mixing results. ``outputs`` (path, shape, dtype of each leaf of one item) catches a changed
``fn``. Every file is written atomically (temporary file in the same directory, ``fsync``,
``os.replace``), so a killed sweep leaves only whole chunks behind. Several processes of a
multi-host sweep may share the directory: each writes only the chunks it owns.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from typing import Any, Sequence

import numpy as np

MANIFEST = "manifest.json"
FORMAT = "jaxphys.sweep.checkpoint"
VERSION = 1


def _atomic_write(path: str, write) -> None:
    """Write via ``write(file_object)`` to a temporary file next to ``path``, then ``os.replace``."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class Checkpoint:
    """One sweep's checkpoint directory (see the module docstring for the layout).

    Args:
        directory: path of the directory (created if missing).
        fingerprint: sha256 hex of the sweep settings.
        settings: JSON-serialisable summary of the settings (written to the manifest and used
            to say which setting differs on a mismatch).
        outputs: ``[[path, shape, dtype], ...]`` of one item's output leaves.

    Raises:
        ValueError: the directory holds the checkpoint of a sweep with other settings, or of
            an ``fn`` with another output structure.
    """

    def __init__(self, directory: str | os.PathLike, fingerprint: str, settings: dict, outputs: list):
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        manifest = {"format": FORMAT, "version": VERSION, "fingerprint": fingerprint, "settings": settings, "outputs": outputs}
        path = os.path.join(self.directory, MANIFEST)
        if os.path.exists(path):
            with open(path) as f:
                old = json.load(f)
            if old.get("format") != FORMAT:
                raise ValueError(f"{self.directory} is not a jaxphys sweep checkpoint (bad {MANIFEST}); choose another directory")
            if old.get("fingerprint") != fingerprint:
                old_settings = old.get("settings", {})
                differ = sorted(k for k in set(settings) | set(old_settings) if settings.get(k) != old_settings.get(k))
                details = "; ".join(f"{k}: checkpoint {old_settings.get(k)!r}, now {settings.get(k)!r}" for k in differ)
                raise ValueError(
                    f"checkpoint {self.directory} belongs to a sweep with different settings ({details or 'fingerprint differs'}). "
                    "Resume with the same grid, replicas, chunk_size (after rounding to the device count) and key, "
                    "or use a new checkpoint directory."
                )
            if old.get("outputs") != outputs:
                raise ValueError(
                    f"checkpoint {self.directory}: fn's outputs changed (checkpoint {old.get('outputs')}, now {outputs}); "
                    "resume with the same fn or use a new checkpoint directory"
                )
        else:
            text = json.dumps(manifest, indent=1).encode()
            _atomic_write(path, lambda f: f.write(text))

    def chunk_path(self, chunk: int) -> str:
        return os.path.join(self.directory, f"chunk_{chunk:06d}.npz")

    def finished(self) -> list[int]:
        """Indices of the chunks whose files exist."""
        names = (n for n in os.listdir(self.directory) if n.startswith("chunk_") and n.endswith(".npz"))
        return sorted(int(n[len("chunk_") : -len(".npz")]) for n in names)

    def load(self, chunk: int, expected: Sequence[tuple[tuple[int, ...], Any]]) -> list[np.ndarray] | None:
        """The leaves of a finished chunk, or None if it is missing or unreadable (then recomputed).

        Raises:
            ValueError: a leaf's shape or dtype differs from ``expected`` (``[(shape, dtype), ...]``).
        """
        path = self.chunk_path(chunk)
        if not os.path.exists(path):
            return None
        try:
            with np.load(path) as data:
                leaves = [data[f"leaf_{i}"] for i in range(len(expected))]
        except Exception as error:  # a file damaged outside our atomic writes: recompute the chunk
            warnings.warn(f"checkpoint chunk {path} is unreadable ({error}); recomputing it", RuntimeWarning, stacklevel=3)
            return None
        for i, (leaf, (shape, dtype)) in enumerate(zip(leaves, expected)):
            if leaf.shape != tuple(shape) or leaf.dtype != np.dtype(dtype):
                raise ValueError(
                    f"checkpoint chunk {path}: leaf {i} has shape {leaf.shape} dtype {leaf.dtype}, expected {tuple(shape)} {np.dtype(dtype)}; "
                    "the checkpoint comes from another fn or chunk size: use a new checkpoint directory"
                )
        return leaves

    def save(self, chunk: int, leaves: Sequence[np.ndarray]) -> None:
        """Write a finished chunk atomically."""
        arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
        _atomic_write(self.chunk_path(chunk), lambda f: np.savez(f, **arrays))
