"""Online learning of soft committee machines: the Saad-Solla ODEs for the order parameters.

A student with ``K`` hidden units ``J_i`` (N,) learns a teacher with ``M`` hidden units ``B_n``
(N,) from one fresh Gaussian input ``xi ~ N(0, I_N)`` per step. With the local fields
``x_i = J_i . xi / sqrt N`` and ``y_n = B_n . xi / sqrt N`` the outputs are

    student  sigma = sum_i w_i g(x_i),      teacher  zeta = sum_n v_n g(y_n) + noise_std z,

``g(u) = erf(u / sqrt 2)`` (the standard soft committee machine), fixed second-layer weights
``w`` (K,) and ``v`` (M,) (``student_readout``, ``teacher_readout``; all ones by default, the
setting of Saad & Solla) and ``z ~ N(0, 1)`` output noise. Online gradient descent on
``eps = (sigma - zeta)^2 / 2`` with weight decay ``gamma``,

    J_i <- (1 - gamma/N) J_i + (eta / sqrt N) delta_i xi,    delta_i = w_i g'(x_i) (zeta - sigma),

is plain SGD with learning rate ``eta`` in these weights (Saad & Solla write it for
``J / sqrt N``, where the learning rate reads ``eta / N``). The fields are jointly Gaussian
with covariances given by the order parameters

    Q_ik = J_i . J_k / N,     R_in = J_i . B_n / N,     T_nm = B_n . B_m / N,

and as ``N -> infinity`` with ``alpha = steps / N`` these self-average and obey (Saad & Solla,
PRE 52, 4225 (1995) and PRL 74, 4337 (1995); Biehl & Schwarze, J. Phys. A 28, 643 (1995);
noise and weight decay: Saad & Solla, NIPS 9 (1997))

    dR_in/dalpha = eta <delta_i y_n> - gamma R_in,
    dQ_ik/dalpha = eta <delta_i x_k + delta_k x_i> + eta^2 <delta_i delta_k> - 2 gamma Q_ik.

Writing ``s = (-w, v)`` for the output weights of all ``K + M`` fields ``u = (x, y)`` (so that
``zeta - sigma = sum_c s_c g(u_c)`` without noise), the averages are sums of three closed forms
for ``g = erf(u / sqrt 2)`` (``C`` the covariance of the fields involved, indices 1..4 in order;
Saad & Solla 1995, appendix):

    I2 = <g(u1) g(u2)>           = (2/pi) arcsin(C12 / sqrt((1 + C11)(1 + C22))),
    I3 = <g'(u1) u2 g(u3)>       = (2/pi) (C23 (1 + C11) - C12 C13) / ((1 + C11) sqrt(L3)),
                                   L3 = (1 + C11)(1 + C33) - C13^2,
    I4 = <g'(u1) g'(u2) g(u3) g(u4)> = (4/pi^2) arcsin(L0 / sqrt(L1 L2)) / sqrt(L4),
        L4 = (1 + C11)(1 + C22) - C12^2,
        L0 = L4 C34 - C23 C24 (1 + C11) - C13 C14 (1 + C22) + C12 C13 C24 + C12 C14 C23,
        L1 = L4 (1 + C33) - C23^2 (1 + C11) - C13^2 (1 + C22) + 2 C12 C13 C23,
        L2 = L4 (1 + C44) - C24^2 (1 + C11) - C14^2 (1 + C22) + 2 C12 C14 C24,

and, for the noise, ``J2 = <g'(u1) g'(u2)> = (2/pi) / sqrt((1 + C11)(1 + C22) - C12^2)``:

    dR_in/dalpha = eta w_i sum_c s_c I3(x_i, y_n, u_c) - gamma R_in,
    dQ_ik/dalpha = eta w_i sum_c s_c I3(x_i, x_k, u_c) + (i <-> k)
                   + eta^2 w_i w_k [sum_cd s_c s_d I4(x_i, x_k, u_c, u_d) + noise_std^2 J2(x_i, x_k)]
                   - 2 gamma Q_ik.

The generalisation error (noise-free teacher, average over a fresh input) is

    eps_g = (1/2) sum_ab s_a s_b I2(u_a, u_b)
          = (1/pi) [sum_ik w_i w_k arcsin(Q_ik / sqrt((1+Q_ii)(1+Q_kk)))
                    + sum_nm v_n v_m arcsin(T_nm / sqrt((1+T_nn)(1+T_mm)))
                    - 2 sum_in w_i v_n arcsin(R_in / sqrt((1+Q_ii)(1+T_nn)))].

Plateau. For ``K = M``, an isotropic teacher ``T = I`` and unit output weights, the subspace
``Q_ii = Q``, ``Q_ik = C`` (i != k), ``R_in = R`` (students that have not specialised to a
teacher unit) is invariant; its fixed point is a saddle of the full flow on which learning
stalls (the symmetric plateau). As ``eta -> 0`` it is ``Q = C = 1/(2K - 1)``,
``R = 1/sqrt(K(2K - 1))`` with ``eps_g = (K/pi) [pi/6 - K arcsin(1/(2K))]`` (Saad & Solla
1995). Trajectories leave it along the specialisation mode ``delta R_in ~ delta_in - 1/K``:
by the permutation symmetry of students and teacher units that doubly centred direction is an
invariant subspace of the linearised flow, on which the Jacobian is a number, the escape rate
``lambda``. Starting with a symmetry breaking of size ``delta``, the plateau lasts
``~ ln(1/delta) / lambda`` in ``alpha``.

Numerics: the ODEs are integrated by the classical fourth-order Runge-Kutta method under
``lax.scan`` (fixed step; ``jit``, ``vmap`` over ``eta``, initial conditions, ..., and
forward-mode derivatives ``jax.jvp``/``jax.jacfwd`` compose; the number of steps between
records is a run-time value, so one compilation serves every ``alpha_max`` and ``dt``, which
rules out reverse mode through :func:`solve`); the plateau is a Newton root of the rates restricted to the symmetric subspace
(:func:`jaxphys.theory.fixed_point.root`, differentiable in ``eta`` by the implicit function
theorem).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validate import as_count, real_scalar
from ..models.base import is_concrete
from ..status import Solution, Status, flag, ok
from ._params import jit_broadcast
from .fixed_point import root

__all__ = [
    "Trajectory",
    "Plateau",
    "I2",
    "I3",
    "I4",
    "J2",
    "eps_g",
    "rates",
    "solve",
    "plateau",
    "plateau_length",
]

_TWO_OVER_PI = 2.0 / math.pi
_FOUR_OVER_PI2 = 4.0 / math.pi**2


# --------------------------------------------------------------------------- Gaussian averages
# The scalar kernels take covariance entries (broadcast elementwise); the public functions take a
# covariance matrix. arcsin arguments are correlation coefficients, in [-1, 1] exactly; the clip
# only removes rounding beyond +-1 for degenerate (rank-deficient) covariances, e.g. a student
# unit equal to a teacher unit.


def _unit_clip(x):
    return jnp.clip(x, -1.0, 1.0)


def _i2(c11, c12, c22):
    return _TWO_OVER_PI * jnp.arcsin(_unit_clip(c12 / jnp.sqrt((1.0 + c11) * (1.0 + c22))))


def _j2(c11, c12, c22):
    return _TWO_OVER_PI / jnp.sqrt((1.0 + c11) * (1.0 + c22) - c12**2)


def _i3(c11, c12, c13, c23, c33):
    lambda3 = (1.0 + c11) * (1.0 + c33) - c13**2
    return _TWO_OVER_PI * (c23 * (1.0 + c11) - c12 * c13) / ((1.0 + c11) * jnp.sqrt(lambda3))


def _i4(c11, c12, c13, c14, c22, c23, c24, c33, c34, c44):
    lambda4 = (1.0 + c11) * (1.0 + c22) - c12**2
    lambda0 = lambda4 * c34 - c23 * c24 * (1.0 + c11) - c13 * c14 * (1.0 + c22) + c12 * c13 * c24 + c12 * c14 * c23
    lambda1 = lambda4 * (1.0 + c33) - c23**2 * (1.0 + c11) - c13**2 * (1.0 + c22) + 2.0 * c12 * c13 * c23
    lambda2 = lambda4 * (1.0 + c44) - c24**2 * (1.0 + c11) - c14**2 * (1.0 + c22) + 2.0 * c12 * c14 * c24
    return _FOUR_OVER_PI2 * jnp.arcsin(_unit_clip(lambda0 / jnp.sqrt(lambda1 * lambda2))) / jnp.sqrt(lambda4)


def _covariance(C: ArrayLike, size: int, name: str) -> Array:
    C = jnp.asarray(C)
    if not (jnp.issubdtype(C.dtype, jnp.floating) or jnp.issubdtype(C.dtype, jnp.integer)):
        raise TypeError(f"{name}: C must be a real covariance matrix, got dtype {C.dtype}")
    if C.ndim < 2 or C.shape[-2:] != (size, size):
        raise ValueError(f"{name}: C must have shape (..., {size}, {size}) (the covariance of the {size} fields), got {C.shape}")
    return C.astype(jnp.result_type(C, float))


def I2(C: ArrayLike) -> Float[Array, "..."]:
    """``<g(u1) g(u2)> = (2/pi) arcsin(C12 / sqrt((1 + C11)(1 + C22)))`` for ``g(u) = erf(u / sqrt 2)``.

    Args:
        C: covariance of the centred Gaussian pair ``(u1, u2)``, float array ``(..., 2, 2)``.

    Returns:
        float array of shape ``C.shape[:-2]``.

    Raises:
        ValueError/TypeError: ``C`` not a real ``(..., 2, 2)`` array.
    """
    C = _covariance(C, 2, "I2")
    return jax.jit(_i2)(C[..., 0, 0], C[..., 0, 1], C[..., 1, 1])


def J2(C: ArrayLike) -> Float[Array, "..."]:
    """``<g'(u1) g'(u2)> = (2/pi) / sqrt((1 + C11)(1 + C22) - C12^2)`` for ``g(u) = erf(u / sqrt 2)``.

    The average behind the output-noise term of the ODEs. ``C``: ``(..., 2, 2)``; returns
    ``C.shape[:-2]``.
    """
    C = _covariance(C, 2, "J2")
    return jax.jit(_j2)(C[..., 0, 0], C[..., 0, 1], C[..., 1, 1])


def I3(C: ArrayLike) -> Float[Array, "..."]:
    """``<g'(u1) u2 g(u3)>`` for ``g(u) = erf(u / sqrt 2)``, in closed form (module docstring).

    Args:
        C: covariance of the centred Gaussian triple ``(u1, u2, u3)``, float array ``(..., 3, 3)``.

    Returns:
        float array of shape ``C.shape[:-2]``.
    """
    C = _covariance(C, 3, "I3")
    return jax.jit(_i3)(C[..., 0, 0], C[..., 0, 1], C[..., 0, 2], C[..., 1, 2], C[..., 2, 2])


def I4(C: ArrayLike) -> Float[Array, "..."]:
    """``<g'(u1) g'(u2) g(u3) g(u4)>`` for ``g(u) = erf(u / sqrt 2)``, in closed form (module docstring).

    Args:
        C: covariance of the centred Gaussian quadruple ``(u1, ..., u4)``, float array ``(..., 4, 4)``.

    Returns:
        float array of shape ``C.shape[:-2]``.
    """
    C = _covariance(C, 4, "I4")
    c = [[C[..., a, b] for b in range(4)] for a in range(4)]
    return jax.jit(_i4)(c[0][0], c[0][1], c[0][2], c[0][3], c[1][1], c[1][2], c[1][3], c[2][2], c[2][3], c[3][3])


# --------------------------------------------------------------------------- order parameters


def _full_covariance(Q, R, T):
    """Covariance of all fields ``u = (x_1..x_K, y_1..y_M)``: ``[[Q, R], [R^T, T]]`` (..., K+M, K+M)."""
    top = jnp.concatenate([Q, R], axis=-1)
    bottom = jnp.concatenate([jnp.swapaxes(R, -1, -2), T], axis=-1)
    return jnp.concatenate([top, bottom], axis=-2)


def _readouts(student_readout, teacher_readout, K, M, dtype):
    w = jnp.ones((K,), dtype) if student_readout is None else jnp.asarray(student_readout, dtype)
    v = jnp.ones((M,), dtype) if teacher_readout is None else jnp.asarray(teacher_readout, dtype)
    return w, v


def _check_readout(readout, size, name):
    if readout is None:
        return None
    arr = jnp.asarray(readout)
    if arr.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},) (one output weight per hidden unit), got {arr.shape}")
    if is_concrete(arr) and not np.all(np.isfinite(np.asarray(arr))):
        raise ValueError(f"{name} must be finite, got {readout}")
    return arr


def _check_order_parameters(Q, R, T, *, batch: bool = False) -> tuple[Array, Array, Array]:
    """Shapes ``Q (K, K)``, ``R (K, M)``, ``T (M, M)`` (with common leading axes if ``batch``)."""
    arrays = []
    for name, value in (("Q", Q), ("R", R), ("T", T)):
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be a float matrix, got the bool {value!r}")
        arr = jnp.asarray(value)
        if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
            raise TypeError(f"{name} must be a real matrix, got dtype {arr.dtype}")
        if arr.ndim < 2 or (not batch and arr.ndim != 2):
            raise ValueError(f"{name} must be a matrix ({'(..., rows, cols)' if batch else '2-D'}), got shape {arr.shape}")
        if 0 in arr.shape[-2:]:
            raise ValueError(f"{name} has an empty axis (shape {arr.shape}): K and M must be >= 1")
        arrays.append(arr)
    Q, R, T = arrays
    K, M = R.shape[-2:]
    if Q.shape[-2:] != (K, K) or T.shape[-2:] != (M, M):
        raise ValueError(
            f"inconsistent order parameters: R has shape (K, M) = {(K, M)}, so Q must be ({K}, {K}) and T ({M}, {M}); "
            f"got Q {Q.shape}, T {T.shape}"
        )
    dtype = jnp.result_type(Q, R, T, float)
    return Q.astype(dtype), R.astype(dtype), T.astype(dtype)


def _check_scalar(value: Any, name: str, *, positive: bool) -> Array:
    """A real scalar, ``> 0`` (``positive``) or ``>= 0``, finite when concrete; may be traced."""
    return real_scalar(value, name, low=0.0, low_open=positive, high_open=True, dtype=jnp.result_type(float))


def _invalid_scalar(value, positive):
    return ~jnp.isfinite(value) | ((value <= 0) if positive else (value < 0))


def _eps_g(Q, R, T, w, v):
    C = _full_covariance(Q, R, T)
    d = jnp.diagonal(C, axis1=-2, axis2=-1)
    s = jnp.concatenate([-jnp.broadcast_to(w, d.shape[:-1] + w.shape), jnp.broadcast_to(v, d.shape[:-1] + v.shape)], -1)
    i2 = _i2(d[..., :, None], C, d[..., None, :])
    return 0.5 * jnp.einsum("...a,...ab,...b->...", s, i2, s)


_eps_g_jit = jax.jit(_eps_g)


def eps_g(
    Q: ArrayLike, R: ArrayLike, T: ArrayLike, *, student_readout: ArrayLike | None = None, teacher_readout: ArrayLike | None = None
) -> Float[Array, "..."]:
    """Generalisation error ``eps_g = <(sigma - zeta)^2> / 2`` of a soft committee machine.

    The arcsin formula of the module docstring (Saad & Solla 1995, eq. 7), for a noise-free
    teacher and ``g(u) = erf(u / sqrt 2)``; zero when the student equals the teacher.

    Args:
        Q: student-student overlaps ``J_i . J_k / N``, float ``(..., K, K)``.
        R: student-teacher overlaps ``J_i . B_n / N``, float ``(..., K, M)``.
        T: teacher-teacher overlaps ``B_n . B_m / N``, float ``(..., M, M)``.
        student_readout, teacher_readout: second-layer weights ``w`` (K,) and ``v`` (M,);
            ``None`` means all ones (the standard soft committee machine).

    Returns:
        float array of the broadcast leading shape of ``Q``, ``R``, ``T`` (scalar for matrices).

    Raises:
        ValueError/TypeError: shapes that are not ``(K, K)``, ``(K, M)``, ``(M, M)``; readouts of
            the wrong shape.
    """
    Q, R, T = _check_order_parameters(Q, R, T, batch=True)
    K, M = R.shape[-2:]
    lead = jnp.broadcast_shapes(Q.shape[:-2], R.shape[:-2], T.shape[:-2])
    Q, R, T = (jnp.broadcast_to(a, lead + a.shape[-2:]) for a in (Q, R, T))
    w = _check_readout(student_readout, K, "student_readout")
    v = _check_readout(teacher_readout, M, "teacher_readout")
    w, v = _readouts(w, v, K, M, Q.dtype)
    return _eps_g_jit(Q, R, T, w, v)


# --------------------------------------------------------------------------- rates


def _rates(Q, R, T, eta, gamma, noise_std, w, v):
    K = Q.shape[0]
    C = _full_covariance(Q, R, T)
    d = jnp.diagonal(C)
    s = jnp.concatenate([-w, v])
    Cs = C[:K]  # (K, K+M): rows of the student fields
    ds = d[:K]
    # I3[i, b, c] = <g'(x_i) u_b g(u_c)>: rows i are students, b and c run over all fields
    i3 = _i3(ds[:, None, None], Cs[:, :, None], Cs[:, None, :], C[None, :, :], d[None, None, :])
    drive = w[:, None] * jnp.einsum("ibc,c->ib", i3, s)  # (K, K+M): w_i sum_c s_c I3(x_i, u_b, u_c)
    dR = eta * drive[:, K:] - gamma * R
    first = drive[:, :K]
    # I4[i, k, c, d] = <g'(x_i) g'(x_k) g(u_c) g(u_d)>
    i4 = _i4(
        ds[:, None, None, None], Q[:, :, None, None], Cs[:, None, :, None], Cs[:, None, None, :],
        ds[None, :, None, None], Cs[None, :, :, None], Cs[None, :, None, :],
        d[None, None, :, None], C[None, None, :, :], d[None, None, None, :],
    )  # fmt: skip
    second = jnp.einsum("ikcd,c,d->ik", i4, s, s) + noise_std**2 * _j2(ds[:, None], Q, ds[None, :])
    dQ = eta * (first + first.T) + eta**2 * (w[:, None] * w[None, :]) * second - 2.0 * gamma * Q
    return 0.5 * (dQ + dQ.T), dR


_rates_jit = jax.jit(_rates)


def rates(
    Q: ArrayLike,
    R: ArrayLike,
    T: ArrayLike,
    eta: ArrayLike,
    *,
    gamma: ArrayLike = 0.0,
    noise_std: ArrayLike = 0.0,
    student_readout: ArrayLike | None = None,
    teacher_readout: ArrayLike | None = None,
) -> tuple[Float[Array, "K K"], Float[Array, "K M"]]:
    """Right-hand side ``(dQ/dalpha, dR/dalpha)`` of the Saad-Solla ODEs (module docstring).

    Args:
        Q: ``(K, K)`` symmetric student overlaps; R: ``(K, M)``; T: ``(M, M)`` teacher overlaps.
        eta: learning rate ``> 0`` (float scalar); gamma: weight decay ``>= 0``;
            noise_std: standard deviation ``>= 0`` of the teacher's output noise.
        student_readout, teacher_readout: fixed second-layer weights (K,), (M,); ``None``: ones.

    Returns:
        ``(dQ, dR)`` of shapes ``(K, K)`` (symmetric) and ``(K, M)``. Differentiable; ``jax.vmap``
        for batches.

    Raises:
        ValueError/TypeError: inconsistent shapes, concrete ``eta <= 0``, ``gamma < 0``,
            ``noise_std < 0`` or NaN.
    """
    Q, R, T = _check_order_parameters(Q, R, T)
    K, M = R.shape
    eta = _check_scalar(eta, "eta", positive=True)
    gamma = _check_scalar(gamma, "gamma", positive=False)
    noise_std = _check_scalar(noise_std, "noise_std", positive=False)
    w, v = _readouts(_check_readout(student_readout, K, "student_readout"), _check_readout(teacher_readout, M, "teacher_readout"), K, M, Q.dtype)
    return _rates_jit(Q, R, T, eta, gamma, noise_std, w, v)


# --------------------------------------------------------------------------- integration


class Trajectory(NamedTuple):
    """Order parameters along the learning curve, recorded at ``num_records + 1`` times.

    ``alpha`` (n,): time ``steps / N`` (0 first); ``Q`` (n, K, K); ``R`` (n, K, M);
    ``eps_g`` (n,): generalisation error. Fields gain leading axes under ``vmap``.
    """

    alpha: Float[Array, " n"]
    Q: Float[Array, "n K K"]
    R: Float[Array, "n K M"]
    eps_g: Float[Array, " n"]


# Classical RK4 tableau: stage s evaluates the rates at y + _RK4_NODES[s] dt k_{s-1} and adds
# _RK4_WEIGHTS[s] dt k_s. Looping over the stages (instead of writing them out) inlines the
# rates once, which quarters the compile time of the loop.
_RK4_NODES = (0.0, 0.5, 0.5, 1.0)
_RK4_WEIGHTS = (1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0)


def _rk4(rhs, state, dt, num_steps):
    """``num_steps`` (may be traced) classical Runge-Kutta steps of ``d state / dt = rhs(state)``."""
    dtype = jax.tree_util.tree_leaves(state)[0].dtype
    nodes = jnp.asarray(_RK4_NODES, dtype)
    weights = jnp.asarray(_RK4_WEIGHTS, dtype)

    def step(_, y):
        def stage(carry, coefficients):
            k_prev, increment = carry
            node, weight = coefficients
            k = rhs(jax.tree_util.tree_map(lambda a, b: a + node * dt * b, y, k_prev))
            return (k, jax.tree_util.tree_map(lambda a, b: a + weight * dt * b, increment, k)), None

        zeros = jax.tree_util.tree_map(jnp.zeros_like, y)
        (_, increment), _ = jax.lax.scan(stage, (zeros, zeros), (nodes, weights))
        return jax.tree_util.tree_map(jnp.add, y, increment)

    return jax.lax.fori_loop(0, num_steps, step, state)


@functools.partial(jax.jit, static_argnames=("num_records",))
def _integrate(Q0, R0, T, eta, gamma, noise_std, w, v, dt, steps_per_record, num_records):
    def rhs(state):
        return _rates(state[0], state[1], T, eta, gamma, noise_std, w, v)

    def record(state, _):
        state = _rk4(rhs, state, dt, steps_per_record)
        return state, state

    _, (Qs, Rs) = jax.lax.scan(record, (Q0, R0), None, length=num_records)
    Qs = jnp.concatenate([Q0[None], Qs])
    Rs = jnp.concatenate([R0[None], Rs])
    alpha = dt * steps_per_record * jnp.arange(num_records + 1, dtype=Q0.dtype)
    errors = _eps_g(Qs, Rs, jnp.broadcast_to(T, (num_records + 1,) + T.shape), w, v)
    finite = jnp.all(jnp.isfinite(Qs)) & jnp.all(jnp.isfinite(Rs))
    status = flag(ok(), Status.NAN, ~finite)
    invalid = _invalid_scalar(eta, True) | _invalid_scalar(gamma, False) | _invalid_scalar(noise_std, False)
    status = flag(status, Status.INVALID_PARAMETER, invalid)
    return Trajectory(alpha, Qs, Rs, errors), status


def _check_static_float(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a Python float > 0 (it fixes the number of steps), got {type(value).__name__}")
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite float > 0, got {value}")
    return value


def _check_covariance_values(Q: Array, R: Array, T: Array) -> None:
    """Concrete checks: finite, symmetric ``Q`` and ``T``, positive semi-definite joint covariance."""
    if not all(is_concrete(a) for a in (Q, R, T)):
        return
    C = np.asarray(_full_covariance(Q, R, T), np.float64)
    if not np.all(np.isfinite(C)):
        raise ValueError("Q, R and T must be finite")
    # tolerance relative to the largest overlap: float32 matrix products are not exactly symmetric
    if np.max(np.abs(C - C.T)) > 1e-5 * max(1.0, np.abs(C).max()):
        raise ValueError("Q and T must be symmetric matrices (overlaps J_i . J_k / N, B_n . B_m / N)")
    lowest = np.linalg.eigvalsh(C)[0]
    if lowest < -1e-6 * max(1.0, np.abs(C).max()):
        raise ValueError(
            f"[[Q, R], [R^T, T]] must be positive semi-definite (a covariance of fields), its lowest eigenvalue is {lowest:.3g}: "
            "overlaps of real weight vectors always satisfy this"
        )


def solve(
    alpha_max: float,
    Q0: ArrayLike,
    R0: ArrayLike,
    T: ArrayLike,
    eta: ArrayLike,
    *,
    gamma: ArrayLike = 0.0,
    noise_std: ArrayLike = 0.0,
    student_readout: ArrayLike | None = None,
    teacher_readout: ArrayLike | None = None,
    dt: float = 0.02,
    num_records: int = 200,
) -> Solution:
    """Integrate the Saad-Solla ODEs from ``(Q0, R0)`` up to ``alpha_max`` (RK4, fixed step).

    ``num_records`` records at equally spaced times; the step is ``dt`` rounded down so that
    a whole number of steps fits between records (``dt_eff = alpha_max / (num_records
    ceil(alpha_max / (num_records dt)))``). The RK4 error is ``O(dt^4)``: ``dt = 0.02`` gives
    ~1e-9 relative accuracy for ``eta ~ 1`` (stability needs ``dt |lambda| < 2.8`` for the
    fastest rate ``lambda ~ eta (K + M)``).

    ``jit``/``vmap``-friendly in every array argument (``eta``, ``gamma``, ``noise_std``,
    ``Q0``, ``R0``, ``T``, readouts); ``alpha_max``, ``dt``, ``num_records`` are Python
    numbers (only ``num_records`` is compiled in). Example:
    ``jax.vmap(lambda e: solve(50.0, Q0, R0, T, e))(etas)``. Derivatives: forward mode
    (``jax.jacfwd(lambda e: solve(...).value.eps_g)(eta)``); reverse mode is not supported.

    Args:
        alpha_max: final time ``steps / N``, Python float ``> 0``.
        Q0: initial student overlaps ``(K, K)``, symmetric; R0: ``(K, M)``; T: ``(M, M)``
            (with ``[[Q0, R0], [R0^T, T]]`` positive semi-definite).
        eta: learning rate, float scalar ``> 0``.
        gamma: weight decay ``>= 0``; noise_std: teacher output noise ``>= 0``.
        student_readout, teacher_readout: fixed second-layer weights (K,), (M,); ``None``: ones.
        dt: largest RK4 step, Python float ``> 0``.
        num_records: number of records after the initial one, Python int ``>= 1``.

    Returns:
        ``Solution(value=Trajectory(alpha, Q, R, eps_g), status, num_steps)`` with
        ``num_records + 1`` rows (the first is the initial condition); ``status`` has
        ``Status.NAN`` if the trajectory is not finite (NaN input, or overflow at huge ``eta``)
        and ``Status.INVALID_PARAMETER`` for traced ``eta <= 0``, ``gamma < 0`` or
        ``noise_std < 0``; ``num_steps`` is the number of RK4 steps.

    Raises:
        ValueError/TypeError: inconsistent shapes, ``K`` or ``M`` zero, asymmetric or not
            positive semi-definite concrete overlaps, concrete ``eta <= 0``, ``gamma < 0``,
            ``noise_std < 0``, NaN, non-static ``alpha_max``/``dt``/``num_records``.
    """
    alpha_max = _check_static_float(alpha_max, "alpha_max")
    dt = _check_static_float(dt, "dt")
    num_records = as_count(num_records, "num_records")
    Q0, R0, T = _check_order_parameters(Q0, R0, T)
    _check_covariance_values(Q0, R0, T)
    Q0, T = 0.5 * (Q0 + Q0.T), 0.5 * (T + T.T)
    K, M = R0.shape
    eta = _check_scalar(eta, "eta", positive=True)
    gamma = _check_scalar(gamma, "gamma", positive=False)
    noise_std = _check_scalar(noise_std, "noise_std", positive=False)
    w = _check_readout(student_readout, K, "student_readout")
    v = _check_readout(teacher_readout, M, "teacher_readout")
    dtype = jnp.result_type(Q0, eta, gamma, noise_std)
    w, v = _readouts(w, v, K, M, dtype)
    steps_per_record = max(1, math.ceil(alpha_max / (num_records * dt) - 1e-9))
    dt_eff = alpha_max / (num_records * steps_per_record)
    trajectory, status = _integrate(
        Q0.astype(dtype), R0.astype(dtype), T.astype(dtype), eta.astype(dtype), gamma.astype(dtype), noise_std.astype(dtype),
        w, v, jnp.asarray(dt_eff, dtype), jnp.int32(steps_per_record), num_records,
    )  # fmt: skip
    return Solution(trajectory, status, jnp.int32(num_records * steps_per_record))


# --------------------------------------------------------------------------- plateau


class Plateau(NamedTuple):
    """Symmetric fixed point of ``K = M`` learning with ``T = I``: ``Q_ii = Q``, ``Q_ik = C``,
    ``R_in = R``; its generalisation error ``eps_g`` and the escape rate ``escape_rate``
    (growth rate of the specialisation mode ``delta R_in ~ delta_in - 1/K``; > 0 on a plateau).
    Scalars, or arrays of ``eta``'s shape."""

    Q: Float[Array, "..."]
    C: Float[Array, "..."]
    R: Float[Array, "..."]
    eps_g: Float[Array, "..."]
    escape_rate: Float[Array, "..."]


def _symmetric_state(x, K):
    Q, C, R = x[0], x[1], x[2]
    eye = jnp.eye(K, dtype=x.dtype)
    return C + (Q - C) * eye, jnp.full((K, K), R, x.dtype), eye


def _plateau_residual(x, params, K):
    eta, gamma, noise_std = params
    Qm, Rm, T = _symmetric_state(x, K)
    ones = jnp.ones((K,), x.dtype)
    dQ, dR = _rates(Qm, Rm, T, eta, gamma, noise_std, ones, ones)
    return jnp.stack([dQ[0, 0], dQ[0, 1], dR[0, 0]])


# Relaxation inside the symmetric subspace before Newton: the plateau attracts it, while Newton
# started on the manifold Q = C (identical students, also invariant) stays on it and returns a
# different fixed point. eta alpha = 400 (1600 RK4 steps of eta dt = 1/4; the fastest rate in
# the subspace is ~ eta (K + M)) lands well inside Newton's basin.
_RELAX_STEPS = 1600
_RELAX_ETA_DT = 0.25


def _plateau_one(eta, gamma, noise_std, K):
    dtype = eta.dtype
    params = (eta, gamma, noise_std)
    start = jnp.asarray([1.0 / (2 * K - 1), 0.0, 0.0], dtype)  # small orthogonal students
    guess = _rk4(lambda x: _plateau_residual(x, params, K), start, _RELAX_ETA_DT / eta, _RELAX_STEPS)
    sol = root(lambda x, p: _plateau_residual(x, p, K), jax.lax.stop_gradient(guess), params)
    Q, C, R = sol.value[0], sol.value[1], sol.value[2]
    Qm, Rm, T = _symmetric_state(sol.value, K)
    ones = jnp.ones((K,), dtype)
    mode = jnp.eye(K, dtype=dtype) - 1.0 / K  # doubly centred: the specialisation direction
    _, dR_dot = jax.jvp(lambda r: _rates(Qm, r, T, eta, gamma, noise_std, ones, ones)[1], (Rm,), (mode,))
    escape = jnp.sum(mode * dR_dot) / jnp.sum(mode * mode)
    # [[Q, R], [R^T, I]] must be a covariance: Q - R R^T has eigenvalues Q - C and Q - C + K (C - K R^2)
    physical = (Q - C >= 0) & (Q - C + K * (C - K * R**2) >= 0)
    status = flag(sol.status, Status.NOT_CONVERGED, ~physical)
    status = flag(status, Status.INVALID_PARAMETER, _invalid_scalar(eta, True) | _invalid_scalar(gamma, False))
    value = Plateau(Q, C, R, _eps_g(Qm, Rm, T, ones, ones), escape)
    return value, status, sol.num_steps


def plateau(num_hidden: int, eta: ArrayLike, *, gamma: ArrayLike = 0.0, noise_std: ArrayLike = 0.0) -> Solution:
    """The symmetric plateau of ``K = M = num_hidden`` learning with an isotropic teacher ``T = I``.

    Solves ``dQ_ii = dQ_ik = dR_in = 0`` on the invariant subspace ``Q_ii = Q``, ``Q_ik = C``,
    ``R_in = R`` by Newton's method (:func:`jaxphys.theory.fixed_point.root`), started where
    the ODEs restricted to that subspace lead in ``eta alpha = 400`` from small orthogonal
    students (so the fixed point found is the one learning runs into; as ``eta -> 0`` it tends
    to ``Q = C = 1/(2K - 1)``, ``R = 1/sqrt(K(2K - 1))``), and linearises the full ODEs there along the specialisation mode ``delta R_in ~ delta_in - 1/K`` (an exact
    eigen-direction by symmetry, module docstring) for the escape rate ``lambda``. A trajectory
    that enters the plateau with a symmetry breaking ``delta`` leaves it after
    ``~ ln(1/delta) / lambda``. Differentiable in ``eta`` (implicit function theorem).

    Args:
        num_hidden: ``K = M``, Python int ``>= 2`` (one hidden unit has no plateau).
        eta: learning rate ``> 0``, float scalar or array (solved elementwise).
        gamma: weight decay ``>= 0``; noise_std: teacher output noise ``>= 0`` (scalars).

    Returns:
        ``Solution(value=Plateau(Q, C, R, eps_g, escape_rate), status, num_steps)`` with the
        shape of ``eta``; ``Status.NOT_CONVERGED`` where Newton failed (e.g. no symmetric fixed
        point for that ``eta``), ``Status.INVALID_PARAMETER`` for traced bad ``eta``/``gamma``.

    Raises:
        ValueError/TypeError: ``num_hidden < 2`` or not an int; concrete ``eta <= 0``,
            ``gamma < 0``, ``noise_std < 0`` or NaN.
    """
    K = as_count(num_hidden, "num_hidden", minimum=2)
    if isinstance(eta, (bool, np.bool_)):
        raise TypeError("eta must be a float, got a bool")
    eta = jnp.asarray(eta)
    eta = eta.astype(jnp.result_type(eta, float))
    if is_concrete(eta) and not np.all((np.asarray(eta) > 0) & np.isfinite(np.asarray(eta))):
        raise ValueError(f"eta must be > 0 and finite, got {eta}")
    gamma = _check_scalar(gamma, "gamma", positive=False).astype(eta.dtype)
    noise_std = _check_scalar(noise_std, "noise_std", positive=False).astype(eta.dtype)
    value, status, steps = jit_broadcast(_plateau_one, (eta,), extra=(gamma, noise_std), static=(K,))
    return Solution(value, status, steps)


def plateau_length(alpha: ArrayLike, errors: ArrayLike, level: ArrayLike, *, rtol: float = 0.05) -> Float[Array, "..."]:
    """Time spent on a plateau: the total ``alpha`` with ``|eps_g - level| <= rtol level``.

    Sums the record intervals ``[alpha_t, alpha_{t+1}]`` whose both ends lie in the band, so
    the resolution is the record spacing. With ``level = plateau(K, eta).value.eps_g`` this
    measures the plateau of a trajectory of :func:`solve` or of a simulation.

    Args:
        alpha: record times, float ``(n,)``, increasing.
        errors: generalisation errors ``(..., n)`` at those times.
        level: plateau value (scalar, or broadcastable to ``errors.shape[:-1]``).
        rtol: relative half-width of the band, Python float ``> 0``.

    Returns:
        float array of shape ``errors.shape[:-1]``.

    Raises:
        ValueError: ``alpha`` not 1-D with at least two times, or ``errors``' last axis not of its length.
    """
    alpha = jnp.asarray(alpha)
    errors = jnp.asarray(errors)
    if alpha.ndim != 1 or alpha.shape[0] < 2:
        raise ValueError(f"alpha must be 1-D with at least 2 record times, got shape {alpha.shape}")
    if errors.ndim < 1 or errors.shape[-1] != alpha.shape[0]:
        raise ValueError(f"errors must have shape (..., {alpha.shape[0]}) to match alpha, got {errors.shape}")
    rtol = _check_static_float(rtol, "rtol")
    level = jnp.asarray(level)[..., None]
    inside = jnp.abs(errors - level) <= rtol * level
    both = inside[..., 1:] & inside[..., :-1]
    return jnp.sum(jnp.where(both, jnp.diff(alpha), 0.0), axis=-1)
