"""Shared set-up of the benchmarks: pin to one core before numpy/jax/numba are imported.

Imports nothing heavy, so a benchmark can call :func:`pin_to_one_core` first thing.
"""

from __future__ import annotations

import os


def pin_to_one_core(cpu: int) -> None:
    """Pin this process to ``cpu`` and make XLA, numba and BLAS single-threaded (call before importing them)."""
    if cpu < 0:
        return
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def machine_info() -> dict:
    """Processor, platform, versions, the first JAX device and the load average, for the JSON."""
    import platform
    import sys

    import jax
    import numpy as np

    return {
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "numpy": np.__version__,
        "device": str(jax.devices()[0]),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def write_json(path, result: dict) -> None:
    """Write ``result`` as indented JSON to ``path`` (creating the folder) and say so."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
