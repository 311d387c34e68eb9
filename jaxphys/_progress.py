"""Host-side progress bars for long jitted loops (``mc.run``, ``learning.train.fit``, ``learning.rbm.train``).

Inside the compiled loop, :func:`tick` sends the index of each finished chunk to the host (a
``jax.debug.callback``, unordered, so it costs nothing when the bar is off: the call is not even
traced); :func:`call` opens a tqdm bar, runs the compiled function, and waits for its result
before closing the bar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

_bar = None  # the tqdm bar of the loop in progress (host side)


def _advance(index) -> None:
    if _bar is not None:
        _bar.n = int(index) + 1
        _bar.refresh()


def tick(index, enabled: bool) -> None:
    """In a traced loop: chunk ``index`` (0-based) is done. A no-op unless ``enabled`` (a Python bool)."""
    if enabled:
        jax.debug.callback(_advance, index, ordered=False)


def call(show: bool, bar: tuple[int, str, str], fn: Callable[..., Any], *args, **kwargs) -> Any:
    """``fn(*args, **kwargs)``; if ``show``, with a tqdm bar ``bar = (total, desc, unit)`` while it runs."""
    global _bar
    if not show:
        return fn(*args, **kwargs)
    from tqdm.auto import tqdm

    total, desc, unit = bar
    _bar = tqdm(total=total, desc=desc, unit=unit)
    try:
        return jax.block_until_ready(fn(*args, **kwargs))
    finally:
        _bar.close()
        _bar = None
