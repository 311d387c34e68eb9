"""Status bitmask shared by samplers and solvers (error tier 2 of DESIGN.md).

Inside ``jit`` nothing may raise on a value, so runtime trouble (a NaN energy, a negative
temperature that arrived as a tracer, a solver that did not converge) sets a bit in an
``int32`` status carried in every sampler state and solver solution. One bad replica of a
vmapped sweep therefore never kills the others. ``throw=True`` at the outer API (tier 3)
turns a non-zero status into an exception with :func:`check`.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Int


class Status(enum.IntFlag):
    """Bits of the status word. ``OK`` (0) means nothing went wrong."""

    OK = 0
    NAN = 1  # a NaN or infinity appeared in an energy, field or observable
    INVALID_PARAMETER = 2  # beta < 0 or NaN, or a parameter out of its domain, seen at run time
    NOT_CONVERGED = 4  # an iterative solver ran out of steps
    UNRELIABLE_ERROR = 8  # error bars did not plateau: the run is too short for its autocorrelation


_MESSAGES = {
    Status.NAN: "a NaN or infinity appeared (check couplings, fields and beta for NaN/inf)",
    Status.INVALID_PARAMETER: "a parameter was out of its domain at run time (beta must be >= 0 and finite)",
    Status.NOT_CONVERGED: "the solver did not converge within its step budget",
    Status.UNRELIABLE_ERROR: "error bars did not plateau under binning: run longer (num_sweeps >> tau_int)",
}


class Solution(NamedTuple):
    """Result of an iterative solver: ``value`` (pytree), ``status`` (int32), ``num_steps`` (int32)."""

    value: Any
    status: Int[Array, ""]
    num_steps: Int[Array, ""]


def ok() -> Int[Array, ""]:
    """A fresh status word with no bit set."""
    return jnp.zeros((), jnp.int32)


def flag(status: Int[Array, "..."], bit: Status, condition: Array) -> Int[Array, "..."]:
    """Set ``bit`` in ``status`` wherever ``condition`` is true (jit- and vmap-safe)."""
    return status | jnp.where(condition, jnp.int32(int(bit)), jnp.int32(0))


def describe(status: int) -> str:
    """Human-readable list of the bits set in a concrete status word."""
    status = Status(int(status))
    if status == Status.OK:
        return "ok"
    return "; ".join(msg for bit, msg in _MESSAGES.items() if bit in status)


def check(value: Any, status: Int[Array, "..."], *, mask: int = ~int(Status.UNRELIABLE_ERROR)) -> Any:
    """Return ``value``, raising (also under jit, via ``eqx.error_if``) if ``status & mask`` is set.

    By default the advisory ``UNRELIABLE_ERROR`` bit does not raise.
    """
    bad = (jnp.asarray(status) & jnp.int32(mask)) != 0
    msg = "jaxphys: " + "; ".join(_MESSAGES.values()) + " (see the status word for which)"
    return eqx.error_if(value, bad, msg)
