"""Fixed points and roots of small nonlinear systems, differentiated implicitly.

Saddle-point equations of mean-field and replica theories are small systems for a handful of
order parameters: ``x = update(x, params)`` (solved by :func:`solve`), ``fn(x, params) = 0``
(:func:`root`), or one scalar equation whose root is bracketed (:func:`bracket_root`: spinodals,
first-order lines, capacities).

Every solver returns a :class:`jaxphys.status.Solution` and never raises on a value at run
time: trouble sets ``Status.NOT_CONVERGED``, ``Status.NAN`` or ``Status.INVALID_PARAMETER``.

Derivatives with respect to ``params`` (and to anything the user function closes over) come
from the implicit function theorem, through ``jax.custom_jvp``: at a root ``x*`` of
``g(x, p) = 0``, ``dx* = -(dg/dx)^{-1} (dg/dp) dp``; no iteration is unrolled, so ``jax.grad``,
``jax.jacfwd``, ``jax.jvp``, ``jax.vmap`` and ``jax.jit`` all compose (see e.g. Blondel et al.,
"Efficient and modular implicit differentiation", NeurIPS 2022). Higher derivatives work too:
the rule re-enters itself. The initial guess gets no derivative.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from .._validate import as_count
from ..status import Solution, Status, flag, ok

__all__ = ["solve", "root", "bracket_root"]

# Residuals below a few dozen rounding errors cannot be resolved: tolerances are floored at
# _EPS_FACTOR machine epsilons of the working dtype (7.6e-6 in float32, 1.4e-14 in float64),
# so the default tol=1e-10 is met in float32 too.
_EPS_FACTOR = 64.0
# Anderson-accelerated iterations before a point falls back to plain damped iteration.
_ANDERSON_STEPS = 200


# --------------------------------------------------------------------------- validation


def _check_callable(fn: Any, name: str) -> None:
    if not callable(fn):
        raise TypeError(f"{name} must be a callable (x, params) -> ..., got {type(fn).__name__}")


def _check_tol(tol: Any) -> float:
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, (int, float, np.floating, np.integer)):
        raise TypeError(f"tol must be a Python float > 0, got {type(tol).__name__}")
    tol = float(tol)
    if not (tol > 0.0 and np.isfinite(tol)):
        raise ValueError(f"tol must be a finite float > 0, got {tol}")
    return tol


def _check_damping(damping: Any) -> float:
    if isinstance(damping, (bool, np.bool_)) or not isinstance(damping, (int, float, np.floating, np.integer)):
        raise TypeError(f"damping must be a Python float in [0, 1), got {type(damping).__name__}")
    damping = float(damping)
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"damping must be in [0, 1) (0 = plain iteration), got {damping}")
    return damping


def _as_float_tree(x0: Any, name: str) -> Any:
    leaves = jax.tree_util.tree_leaves(x0)
    if not leaves:
        raise ValueError(f"{name} must contain at least one array leaf, got {x0!r}")

    def to_float(leaf):
        leaf = jnp.asarray(leaf)
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            if jnp.issubdtype(leaf.dtype, jnp.complexfloating):
                raise TypeError(f"{name} must have real floating leaves, got dtype {leaf.dtype}")
            leaf = leaf.astype(jnp.result_type(float))
        return leaf

    return jax.tree_util.tree_map(to_float, jax.lax.stop_gradient(x0))


def _flatten(fn: Callable, x0: Any, params: Any, name: str, same_structure: bool):
    """Closure-convert ``fn(x, params)`` and express it on the flat vector of ``x``.

    Returns ``(flat_fn, x0_flat, unravel, consts)`` with ``flat_fn(x_flat, params, consts)``;
    ``consts`` are the differentiable values ``fn`` closes over (hoisted so that the implicit
    rule also differentiates with respect to them).
    """
    x0_flat, unravel = ravel_pytree(x0)
    try:
        out_shape = jax.eval_shape(fn, x0, params)
    except TypeError as err:
        raise TypeError(f"{name} must be callable as {name}(x, params): {err}") from err
    x_struct = jax.tree_util.tree_structure(x0)
    out_struct = jax.tree_util.tree_structure(out_shape)
    if same_structure:
        x_shapes = [jnp.shape(leaf) for leaf in jax.tree_util.tree_leaves(x0)]
        out_shapes = [leaf.shape for leaf in jax.tree_util.tree_leaves(out_shape)]
        if out_struct != x_struct or out_shapes != x_shapes:
            raise ValueError(
                f"{name}(x, params) must return a pytree with the structure and shapes of x "
                f"({x_struct}, {x_shapes}); got {out_struct}, {out_shapes}"
            )
    converted, consts = jax.closure_convert(fn, x0, params)

    def flat_fn(x_flat, params, consts):
        out = converted(unravel(x_flat), params, *consts)
        out_flat, _ = ravel_pytree(out)
        return out_flat.astype(x_flat.dtype)

    return flat_fn, x0_flat, unravel, tuple(consts)


def _effective_tol(tol: float, dtype) -> float:
    return max(tol, _EPS_FACTOR * float(jnp.finfo(dtype).eps))


_JITTED: dict[Callable, Callable] = {}


def _compiled(impl: Callable, fn: Callable, options: tuple, x0: Any, params: Any) -> Solution:
    """``impl(fn, options, x0, params)`` under one ``jax.jit`` keyed on ``(fn, options)``.

    Eager calls would otherwise compile every ``while_loop`` anew (~1 s each); with the user
    function as a static argument, repeated calls with the same function hit jit's cache.
    Unhashable functions run unjitted (correct, only slower).
    """
    try:
        hash(fn)
    except TypeError:
        return impl(fn, options, x0, params)
    if impl not in _JITTED:
        _JITTED[impl] = jax.jit(impl, static_argnums=(0, 1))
    return _JITTED[impl](fn, options, x0, params)


# --------------------------------------------------------------------------- implicit rule


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _implicit(residual: Callable, x_star: Array, params: Any, consts: tuple) -> Array:
    """Identity on ``x_star`` whose JVP is that of the root of ``residual(x, params, consts) = 0``."""
    return x_star


@_implicit.defjvp
def _implicit_jvp(residual, primals, tangents):
    x_star, params, consts = primals
    _, dparams, dconsts = tangents
    # Re-entering _implicit keeps x* differentiable inside the rule: higher derivatives work.
    x = _implicit(residual, x_star, params, consts)
    jac_x = jax.jacfwd(residual, argnums=0)(x, params, consts)
    _, rhs = jax.jvp(lambda p, c: residual(x, p, c), (params, consts), (dparams, dconsts))
    dx = -jnp.linalg.solve(jac_x, rhs)
    return x, dx


def _finish(flat_fn, x_flat, params, consts, unravel):
    """Attach the implicit derivative to ``x_flat`` (computed from stopped params) and unflatten."""
    return unravel(_implicit(flat_fn, x_flat, params, consts))


# --------------------------------------------------------------------------- solve


def solve(
    update: Callable[[Any, Any], Any],
    x0: Any,
    params: Any,
    *,
    damping: float = 0.5,
    tol: float = 1e-10,
    max_steps: int = 5000,
    newton_steps: int = 8,
    anderson: int = 0,
) -> Solution:
    """Fixed point ``x* = update(x*, params)`` by damped iteration, polished by Newton steps.

    Iterates ``x <- damping x + (1 - damping) update(x, params)`` until the residual
    ``r(x) = max_i |update(x)_i - x_i| / (1 + |x_i|)`` (relative + absolute) is below ``tol``
    or ``max_steps`` iterations are spent, then takes up to ``newton_steps`` Newton steps on
    ``g(x) = update(x) - x`` with the dense Jacobian (``jax.jacfwd`` on the flattened ``x``);
    a Newton step is kept only if it lowers the residual, so it cannot spoil a solution but
    rescues slow (critical) iterations and polishes converged ones (near a critical point a
    small residual can hide a large error, ``|x - x*| ~ r / (1 - lambda_max)``).

    Derivatives with respect to ``params`` and to anything ``update`` closes over follow the
    implicit function theorem, ``dx* = (I - d update/dx)^{-1} (d update/dparams) dparams``
    (``jax.custom_jvp``); ``x0`` gets no derivative.

    Args:
        update: ``update(x, params) -> x'``, a pure JAX function returning a pytree with the
            structure, shapes and dtypes of ``x``.
        x0: initial guess, a (small) pytree of float scalars/arrays; int leaves become floats.
        params: pytree of float arrays passed through to ``update`` (may be traced, batched).
        damping: weight of the old iterate, Python float in ``[0, 1)``.
        tol: residual tolerance, Python float ``> 0``; floored at 64 machine epsilons of the
            dtype of ``x`` (so the default ``1e-10`` means ~``7.6e-6`` in float32).
        max_steps: most damped iterations, Python int ``>= 0``.
        newton_steps: most Newton steps afterwards, Python int ``>= 0``.
        anderson: memory ``m`` of Anderson acceleration (type II; Walker & Ni, SIAM J. Numer.
            Anal. 49, 1715, 2011), Python int ``>= 0``; 0 (default) is plain damped iteration, 5 is a good choice.
            Each step mixes the last ``m`` iterates, ``x <- x + b g - (dX + b dG) gamma`` with
            ``g = update(x) - x``, ``b = 1 - damping`` and ``gamma`` the least-squares fit of
            ``g`` by the residual differences ``dG``; a step whose residual exceeds the last one
            by 10x is replaced by a plain damped step and the memory is cleared. Near critical
            points (slowest relaxation rate ``1 - lambda -> 0``) it cuts the iterations from
            ``~1/(1 - lambda)`` to a few dozen, which matters most under ``jax.vmap``, where
            a grid waits for its slowest point. Anderson can land on a fixed point that plain
            iteration from ``x0`` would not reach (an unstable one, e.g. ``q = 0`` of SK below
            ``T_c``); so each result is checked: started ``1e-4`` of the way back towards ``x0``,
            32 damped steps must not move away from it, and the iteration must have converged
            within 200 Anderson steps; a point that fails either redoes the plain damped
            iteration from ``x0``. Where several fixed points attract (metastable branches:
            retrieval vs spin glass, the binary perceptron's poor-generalisation branch), Anderson
            may still land in another basin than plain iteration: hence off by default; turn it
            on for grids whose fixed point is unique or whose branch you check.

    Returns:
        ``Solution(value, status, num_steps)``: ``value`` has the structure of ``x0``;
        ``status`` has ``Status.NOT_CONVERGED`` if the final residual exceeds ``tol`` and
        ``Status.NAN`` if ``value`` or the residual is not finite; ``num_steps`` counts damped
        iterations plus accepted Newton steps (int32).

    Raises:
        TypeError: ``update`` not callable, or options of the wrong type.
        ValueError: options out of range, empty ``x0``, or ``update`` changes the structure of ``x``.
    """
    _check_callable(update, "update")
    damping = _check_damping(damping)
    tol = _check_tol(tol)
    max_steps = as_count(max_steps, "max_steps", minimum=0)
    newton_steps = as_count(newton_steps, "newton_steps", minimum=0)
    anderson = as_count(anderson, "anderson", minimum=0)
    x0 = _as_float_tree(x0, "x0")
    return _compiled(_solve, update, (damping, tol, max_steps, newton_steps, anderson), x0, params)


def _anderson_loop(flat_update, x0, u0, r0, p, c, residual_norm, keep_going, damping, max_steps, memory):
    """Anderson-accelerated iteration (type II, circular memory of ``memory`` differences)."""
    n = x0.size
    beta = 1.0 - damping
    zeros = jnp.zeros((memory, n), x0.dtype)

    def cond(carry):
        return keep_going(carry[2], carry[3], max_steps)

    def body(carry):
        x, u, r, step, dx_hist, dg_hist, x_prev, g_prev, count = carry
        g = u - x
        slot = count % memory
        have_prev = count > 0
        dx_hist = jnp.where(have_prev, dx_hist.at[slot].set(x - x_prev), dx_hist)
        dg_hist = jnp.where(have_prev, dg_hist.at[slot].set(g - g_prev), dg_hist)
        # gamma = argmin |g - dG^T gamma| (normal equations, Tikhonov-regularised; empty rows -> 0)
        gram = dg_hist @ dg_hist.T
        reg = 1e-12 * jnp.trace(gram) + jnp.finfo(x.dtype).tiny
        gamma = jnp.linalg.solve(gram + reg * jnp.eye(memory, dtype=x.dtype), dg_hist @ g)
        x_acc = x + beta * g - (dx_hist + beta * dg_hist).T @ gamma
        x_damped = x + beta * g
        u_acc = flat_update(x_acc, p, c)
        r_acc = residual_norm(x_acc, u_acc)
        good = jnp.isfinite(r_acc) & (r_acc <= 10.0 * r)

        def fallback(_):
            u_d = flat_update(x_damped, p, c)
            return x_damped, u_d, residual_norm(x_damped, u_d)

        x_new, u_new, r_new = jax.lax.cond(good, lambda _: (x_acc, u_acc, r_acc), fallback, None)
        # a rejected step clears the memory (count restarts at 0)
        dx_hist = jnp.where(good, dx_hist, zeros)
        dg_hist = jnp.where(good, dg_hist, zeros)
        count = jnp.where(good, count + 1, 0)
        return x_new, u_new, r_new, step + 1, dx_hist, dg_hist, x, g, count

    carry = (x0, u0, r0, jnp.int32(0), zeros, zeros, x0, u0 - x0, jnp.int32(0))
    x, u, r, steps, *_ = jax.lax.while_loop(cond, body, carry)
    return x, u, r, steps


def _repels(flat_update, x, x0, p, c, damping, nudge: float = 1e-4, steps: int = 32) -> Array:
    """True if damped iteration started ``nudge`` of the way from fixed point ``x`` towards ``x0``
    ends farther from ``x`` after ``steps`` steps than it started (or produces non-finite values)."""
    y0 = x + nudge * (x0 - x)

    def step(y, _):
        return damping * y + (1.0 - damping) * flat_update(y, p, c), None

    y, _ = jax.lax.scan(step, y0, None, length=steps)
    start, end = jnp.max(jnp.abs(y0 - x)), jnp.max(jnp.abs(y - x))
    return ~(end <= start)


def _solve(update, options, x0, params):
    damping, tol, max_steps, newton_steps, memory = options
    flat_update, x_flat0, unravel, consts = _flatten(update, x0, params, "update", same_structure=True)
    tol_eff = _effective_tol(tol, x_flat0.dtype)

    p = jax.lax.stop_gradient(params)
    c = jax.lax.stop_gradient(consts)

    def residual_norm(x, u):
        return jnp.max(jnp.abs(u - x) / (1.0 + jnp.abs(x)))

    def keep_going(r, step, limit):
        return (step < limit) & (r > tol_eff) & jnp.isfinite(r)

    def damped_cond(carry):
        _, _, r, step = carry
        return keep_going(r, step, max_steps)

    def damped_body(carry):
        x, u, _, step = carry
        x = damping * x + (1.0 - damping) * u
        u = flat_update(x, p, c)
        return x, u, residual_norm(x, u), step + 1

    u0 = flat_update(x_flat0, p, c)
    r0 = residual_norm(x_flat0, u0)
    start = (x_flat0, u0, r0, jnp.int32(0))
    if memory:
        budget = min(max_steps, _ANDERSON_STEPS)
        x, u, r, steps = _anderson_loop(flat_update, x_flat0, u0, r0, p, c, residual_norm, keep_going, damping, budget, memory)
        # Anderson may converge to a fixed point that repels the damped iteration (e.g. q = 0 of
        # SK below T_c). Test it: nudge the point towards x0 and take a few damped steps; if they
        # move away, redo the plain damped iteration from x0, so both find the same point.
        # The same when Anderson stagnates (it gets _ANDERSON_STEPS iterations at most).
        repelling = _repels(flat_update, x, x_flat0, p, c, damping) | ~(r <= tol_eff)
        # (a while loop rather than lax.cond: under vmap, cond would run the slow branch everywhere)
        redo = jax.lax.while_loop(
            damped_cond,
            damped_body,
            jax.tree_util.tree_map(lambda a, b: jnp.where(repelling, a, b), start, (x, u, jnp.zeros_like(r), steps)),
        )
        x, u, r = redo[0], redo[1], jnp.where(repelling, redo[2], r)
        steps = jnp.where(repelling, steps + redo[3], steps)  # Anderson steps + plain steps
    else:
        x, u, r, steps = jax.lax.while_loop(damped_cond, damped_body, start)

    def g(x):
        return flat_update(x, p, c) - x

    def newton_cond(carry):
        # Newton runs even below tol: a small residual near a critical point (slow damped
        # iteration) can still hide a large error in x. It stops at the first step that
        # fails to lower the residual, i.e. at the rounding floor.
        _, _, r, step, _ = carry
        return (step < newton_steps) & jnp.isfinite(r) & (r > 0)

    def newton_body(carry):
        x, u, r, step, accepted = carry
        jac = jax.jacfwd(g)(x)
        x_new = x - jnp.linalg.solve(jac, u - x)
        u_new = flat_update(x_new, p, c)
        r_new = residual_norm(x_new, u_new)
        better = jnp.isfinite(r_new) & (r_new < r)
        x, u, r = (jnp.where(better, a, b) for a, b in ((x_new, x), (u_new, u), (r_new, r)))
        # a rejected step will be rejected again: stop by jumping to the step limit
        step = jnp.where(better, step + 1, newton_steps)
        return x, u, r, step, accepted + better.astype(jnp.int32)

    x, u, r, _, accepted = jax.lax.while_loop(newton_cond, newton_body, (x, u, r, jnp.int32(0), jnp.int32(0)))

    finite = jnp.isfinite(r) & jnp.all(jnp.isfinite(x))
    status = flag(ok(), Status.NAN, ~finite)
    status = flag(status, Status.NOT_CONVERGED, finite & (r > tol_eff))

    def fixed_point_residual(x, params, consts):
        return flat_update(x, params, consts) - x

    value = _finish(fixed_point_residual, x, params, consts, unravel)
    return Solution(value=value, status=status, num_steps=steps + accepted)


# --------------------------------------------------------------------------- root


def root(fn: Callable[[Any, Any], Any], x0: Any, params: Any, *, tol: float = 1e-10, max_steps: int = 100) -> Solution:
    """Root ``fn(x*, params) = 0`` by Newton's method with backtracking line search.

    Each step solves ``J dx = -fn(x)`` (dense ``J = dfn/dx`` by ``jax.jacfwd``) and halves the
    step (at most 30 times) until ``|fn|^2`` decreases (Armijo with constant 1e-4; Nocedal &
    Wright, Numerical Optimization, Alg. 3.1). Converged when the full Newton step is below
    ``tol (1 + |x|)`` elementwise (that step is then taken, so the error is ~``tol^2``) or
    ``fn(x) = 0`` exactly. Implicit derivative
    ``dx* = -(dfn/dx)^{-1} (dfn/dparams) dparams``.

    Args:
        fn: ``fn(x, params) -> residual``, a pure JAX function whose output has as many
            elements as ``x`` (any pytree structure).
        x0: initial guess, pytree of float arrays (no derivative flows to it).
        params: pytree of float arrays, differentiable.
        tol: tolerance, Python float ``> 0``, floored at 64 machine epsilons of ``x``'s dtype.
        max_steps: most Newton steps, Python int ``>= 1``.

    Returns:
        ``Solution(value, status, num_steps)`` with ``Status.NOT_CONVERGED`` if not converged
        (including a singular Jacobian or a failed line search) and ``Status.NAN`` if the
        value or the residual is not finite.

    Raises:
        TypeError: ``fn`` not callable or options of the wrong type.
        ValueError: bad options, or ``fn``'s output size differs from ``x``'s.
    """
    _check_callable(fn, "fn")
    tol = _check_tol(tol)
    max_steps = as_count(max_steps, "max_steps")
    x0 = _as_float_tree(x0, "x0")
    return _compiled(_root, fn, (tol, max_steps), x0, params)


def _root(fn, options, x0, params):
    tol, max_steps = options
    flat_fn, x_flat0, unravel, consts = _flatten(fn, x0, params, "fn", same_structure=False)
    out_size = jax.eval_shape(flat_fn, x_flat0, params, consts).size
    if out_size != x_flat0.size:
        raise ValueError(f"fn(x, params) must return as many numbers as x has ({x_flat0.size}), got {out_size}")
    tol_eff = _effective_tol(tol, x_flat0.dtype)

    p = jax.lax.stop_gradient(params)
    c = jax.lax.stop_gradient(consts)

    def f(x):
        return flat_fn(x, p, c)

    def cond(carry):
        _, _, step, done, stuck = carry
        return (step < max_steps) & ~done & ~stuck

    def body(carry):
        x, fx, step, _, _ = carry
        jac = jax.jacfwd(f)(x)
        dx = -jnp.linalg.solve(jac, fx)
        small_step = jnp.all(jnp.abs(dx) <= tol_eff * (1.0 + jnp.abs(x)))
        merit = jnp.sum(fx**2)

        def ls_cond(ls):
            t, f_t, k = ls
            accept = jnp.isfinite(jnp.sum(f_t**2)) & (jnp.sum(f_t**2) <= (1.0 - 2e-4 * t) * merit)
            return ~accept & (k < 30)

        def ls_body(ls):
            t, _, k = ls
            t = 0.5 * t
            return t, f(x + t * dx), k + 1

        one = jnp.ones((), x.dtype)
        t, f_t, k = jax.lax.while_loop(ls_cond, ls_body, (one, f(x + dx), jnp.int32(0)))
        found = (k < 30) & jnp.all(jnp.isfinite(dx))
        x_new = jnp.where(found | small_step, x + t * dx, x)
        f_new = jnp.where(found | small_step, f_t, fx)
        # |fn| has no natural scale, so convergence is judged on the Newton step in x
        done = small_step | jnp.all(f_new == 0)
        return x_new, f_new, step + 1, done, ~found & ~done

    fx0 = f(x_flat0)
    done0 = jnp.all(fx0 == 0)
    x, fx, steps, done, _ = jax.lax.while_loop(cond, body, (x_flat0, fx0, jnp.int32(0), done0, jnp.zeros((), bool)))
    finite = jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(fx))
    status = flag(ok(), Status.NAN, ~finite)
    status = flag(status, Status.NOT_CONVERGED, finite & ~done)
    value = _finish(flat_fn, x, params, consts, unravel)
    return Solution(value=value, status=status, num_steps=steps)


# --------------------------------------------------------------------------- bracket_root


def bracket_root(
    fn: Callable[[Array, Any], Array],
    lower: Any,
    upper: Any,
    params: Any,
    *,
    tol: float = 1e-10,
    max_steps: int = 200,
) -> Solution:
    """Scalar root of ``fn(x, params)`` in ``[lower, upper]``, where ``fn`` changes sign.

    Brent's method (inverse quadratic / secant steps safeguarded by bisection; R. P. Brent,
    Algorithms for Minimization without Derivatives, 1973, ch. 4; this follows scipy's
    ``brentq``): the bracket always holds a sign change, so the iteration cannot escape it.
    Stops when the bracket is narrower than ``tol + 4 eps |x|`` or ``fn(x) = 0``. Implicit
    derivative ``dx*/dparams = -(dfn/dparams) / (dfn/dx)``.

    This is the transition finder: spinodals (a stability eigenvalue crossing zero), first-order
    lines (a difference of two branch free energies), capacities (an entropy crossing zero).

    Args:
        fn: ``fn(x, params) -> scalar`` for a scalar float ``x``; pure JAX.
        lower, upper: bracket ends (float scalars, may be traced; order does not matter).
        params: pytree of float arrays, differentiable (``lower``/``upper`` get no derivative).
        tol: absolute tolerance on ``x``, Python float ``> 0``.
        max_steps: most iterations, Python int ``>= 1``.

    Returns:
        ``Solution(value, status, num_steps)`` with scalar ``value``. ``Status.INVALID_PARAMETER``
        (and ``value = NaN``) if ``fn(lower)`` and ``fn(upper)`` have the same sign or a bracket
        end is not finite; ``Status.NOT_CONVERGED`` if ``max_steps`` did not suffice;
        ``Status.NAN`` if ``fn`` gave a non-finite value.

    Raises:
        TypeError: ``fn`` not callable or options of the wrong type.
        ValueError: bad options, non-scalar bracket ends, or ``fn`` not returning a scalar.
    """
    _check_callable(fn, "fn")
    tol = _check_tol(tol)
    max_steps = as_count(max_steps, "max_steps")
    dtype = jnp.result_type(lower, upper, float)
    lower = jax.lax.stop_gradient(jnp.asarray(lower, dtype))
    upper = jax.lax.stop_gradient(jnp.asarray(upper, dtype))
    if lower.shape != () or upper.shape != ():
        raise ValueError(f"lower and upper must be scalars (vmap for many brackets), got shapes {lower.shape}, {upper.shape}")
    return _compiled(_bracket_root, fn, (tol, max_steps), (lower, upper), params)


def _bracket_root(fn, options, bracket, params):
    tol, max_steps = options
    lower, upper = bracket
    dtype = lower.dtype
    flat_fn, _, unravel, consts = _flatten(fn, lower, params, "fn", same_structure=False)
    out = jax.eval_shape(flat_fn, lower.reshape(1), params, consts)
    if out.size != 1:
        raise ValueError(f"fn(x, params) must return a scalar, got {out.size} numbers")
    eps4 = 4.0 * float(jnp.finfo(dtype).eps)

    p = jax.lax.stop_gradient(params)
    c = jax.lax.stop_gradient(consts)

    def f(x):
        return flat_fn(x.reshape(1), p, c)[0]

    f_lower, f_upper = f(lower), f(upper)
    finite_ends = jnp.isfinite(lower) & jnp.isfinite(upper)
    sign_change = (jnp.sign(f_lower) * jnp.sign(f_upper)) <= 0
    valid = finite_ends & jnp.isfinite(f_lower) & jnp.isfinite(f_upper) & sign_change

    # state: x_pre, x_cur, x_blk, f_pre, f_cur, f_blk, s_pre, s_cur, step, done
    zero = jnp.zeros((), dtype)
    init = (lower, upper, zero, f_lower, f_upper, zero, zero, zero, jnp.int32(0), (f_lower == 0) | (f_upper == 0) | ~valid)

    def cond(s):
        return (s[8] < max_steps) & ~s[9]

    def body(s):
        x_pre, x_cur, x_blk, f_pre, f_cur, f_blk, s_pre, s_cur, step, _ = s
        opposite = (f_pre != 0) & (f_cur != 0) & (jnp.signbit(f_pre) != jnp.signbit(f_cur))
        x_blk = jnp.where(opposite, x_pre, x_blk)
        f_blk = jnp.where(opposite, f_pre, f_blk)
        s_pre = jnp.where(opposite, x_cur - x_pre, s_pre)
        s_cur = jnp.where(opposite, x_cur - x_pre, s_cur)
        # keep the best point in x_cur
        swap = jnp.abs(f_blk) < jnp.abs(f_cur)
        x_pre, x_cur, x_blk = jnp.where(swap, x_cur, x_pre), jnp.where(swap, x_blk, x_cur), jnp.where(swap, x_cur, x_blk)
        f_pre, f_cur, f_blk = jnp.where(swap, f_cur, f_pre), jnp.where(swap, f_blk, f_cur), jnp.where(swap, f_cur, f_blk)

        delta = 0.5 * (tol + eps4 * jnp.abs(x_cur))
        s_bis = 0.5 * (x_blk - x_cur)
        done = (f_cur == 0) | (jnp.abs(s_bis) < delta)

        # interpolation (secant if two points, inverse quadratic otherwise)
        safe = lambda d: jnp.where(d == 0, jnp.ones_like(d), d)  # noqa: E731
        secant = -f_cur * (x_cur - x_pre) / safe(f_cur - f_pre)
        d_pre = (f_pre - f_cur) / safe(x_pre - x_cur)
        d_blk = (f_blk - f_cur) / safe(x_blk - x_cur)
        quadratic = -f_cur * (f_blk * d_blk - f_pre * d_pre) / safe(d_blk * d_pre * (f_blk - f_pre))
        s_try = jnp.where(x_pre == x_blk, secant, quadratic)
        try_interp = (jnp.abs(s_pre) > delta) & (jnp.abs(f_cur) < jnp.abs(f_pre))
        good = (
            try_interp & jnp.isfinite(s_try) & (2.0 * jnp.abs(s_try) < jnp.minimum(jnp.abs(s_pre), 3.0 * jnp.abs(s_bis) - delta))
        )
        s_pre, s_cur = jnp.where(good, s_cur, s_bis), jnp.where(good, s_try, s_bis)

        x_pre_new, f_pre_new = x_cur, f_cur
        x_next = x_cur + jnp.where(jnp.abs(s_cur) > delta, s_cur, jnp.where(s_bis > 0, delta, -delta))
        f_next = f(x_next)
        # once done, freeze the state (x_cur is the answer)
        keep = lambda new, old: jnp.where(done, old, new)  # noqa: E731
        return (
            keep(x_pre_new, x_pre), keep(x_next, x_cur), x_blk, keep(f_pre_new, f_pre), keep(f_next, f_cur), f_blk,
            s_pre, s_cur, step + jnp.where(done, 0, 1).astype(jnp.int32), done | ~jnp.isfinite(f_next),
        )  # fmt: skip

    x_pre, x_cur, x_blk, f_pre, f_cur, f_blk, *_, steps, done = jax.lax.while_loop(cond, body, init)
    # the initial-zero shortcut: pick the end that is an exact root
    x_cur = jnp.where((steps == 0) & (f_lower == 0), lower, x_cur)
    f_cur = jnp.where((steps == 0) & (f_lower == 0), f_lower, f_cur)
    converged = done & jnp.isfinite(f_cur)
    status = flag(ok(), Status.INVALID_PARAMETER, ~valid)
    status = flag(status, Status.NAN, valid & ~jnp.isfinite(f_cur))
    status = flag(status, Status.NOT_CONVERGED, valid & jnp.isfinite(f_cur) & ~converged)
    x_cur = jnp.where(valid, x_cur, jnp.nan)
    value = _finish(flat_fn, x_cur.reshape(1), params, consts, unravel)
    return Solution(value=value, status=status, num_steps=steps)
