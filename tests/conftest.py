"""Shared test settings: CPU only, deterministic keys, one BLAS thread per test worker."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# pytest-xdist already runs one worker per core: BLAS thread pools (jaxlib's CPU linear algebra,
# numpy) would only oversubscribe the cores, and idle OpenBLAS threads spin.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
