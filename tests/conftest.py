"""Shared test settings: CPU only, deterministic keys."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
