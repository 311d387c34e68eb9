"""Online learning of soft committee machines, simulated: one fresh Gaussian example per step.

A student ``J`` (K, N) learns a teacher ``B`` (M, N) by online gradient descent: at step ``t``
a fresh input ``xi ~ N(0, I_N)`` gives the fields ``x = J xi / sqrt N``, ``y = B xi / sqrt N``,
the outputs ``sigma = sum_i w_i g(x_i)`` and ``zeta = sum_n v_n g(y_n) + noise_std z``
(``g(u) = erf(u / sqrt 2)``, ``z ~ N(0, 1)``), and

    J_i <- (1 - gamma/N) J_i + (eta / sqrt N) delta_i xi,    delta_i = w_i g'(x_i) (zeta - sigma),

i.e. SGD with learning rate ``eta`` on ``(sigma - zeta)^2 / 2`` plus weight decay ``gamma``
(Saad & Solla, PRE 52, 4225 (1995), whose weights are ``J / sqrt N``; Biehl & Schwarze 1995).
Time is ``alpha = steps / N``. The order parameters ``Q = J J^T / N``, ``R = J B^T / N`` are
recorded along the way; as ``N -> infinity`` they follow the ODEs of
:mod:`jaxphys.theory.online` (fluctuations ``O(1/sqrt N)``), which this module exists to check
and to illustrate (plateaus, escape, weight decay, noise).

Everything is a pure function of a typed key (``jax.random.key``): ``jax.vmap`` over keys runs
independent seeds, over ``eta`` a learning-rate scan. The input of step ``t`` comes from
``fold_in(key, t)``, so no key array of the run's length is stored.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._validate import as_count
from ..models.base import is_concrete
from ..status import Status, flag, ok
from ..theory.online import _check_readout, _check_scalar, _eps_g, _invalid_scalar, _readouts

__all__ = ["OnlineTrajectory", "orthonormal_weights", "student_weights", "simulate"]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class OnlineTrajectory(NamedTuple):
    """A simulated learning curve, recorded at ``num_records + 1`` times (the first is the start).

    Attributes:
        alpha: ``steps / N`` at each record, float ``(n,)``.
        Q: student overlaps ``J J^T / N``, ``(n, K, K)``.
        R: student-teacher overlaps ``J B^T / N``, ``(n, K, M)``.
        eps_g: generalisation error of the weights at each record, ``(n,)``: the closed form
            :func:`jaxphys.theory.online.eps_g` of the recorded overlaps (the exact average over a
            fresh noise-free input for these weights, not a sample estimate), evaluated in
            float64 when x64 is enabled.
        student: final student weights ``(K, N)`` (continue a run from them).
        status: int32 bitmask: ``Status.NAN`` if the weights blew up (``eta`` too large),
            ``Status.INVALID_PARAMETER`` for traced ``eta <= 0``, ``gamma < 0``, ``noise_std < 0``.
    """

    alpha: Float[Array, " n"]
    Q: Float[Array, "n K K"]
    R: Float[Array, "n K M"]
    eps_g: Float[Array, " n"]
    student: Float[Array, "K N"]
    status: Int[Array, ""]


def _g(u):
    return jax.scipy.special.erf(u / math.sqrt(2.0))


def _g_prime(u):
    return _SQRT_2_OVER_PI * jnp.exp(-0.5 * u * u)


def _check_weights(value: Any, name: str) -> Array:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a float array of weights, got the bool {value!r}")
    arr = jnp.asarray(value)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(f"{name} must be a float array (num_hidden, N), got dtype {arr.dtype}")
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{name} must have shape (num_hidden, N) with num_hidden, N >= 1, got {arr.shape}")
    if is_concrete(arr) and not np.all(np.isfinite(np.asarray(arr))):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def orthonormal_weights(key: Array, num_hidden: int, dim: int, *, dtype: Any = None) -> Float[Array, "num_hidden dim"]:
    """Random weights with exactly orthonormal overlaps: ``W W^T / dim = I``.

    Rows of a Haar-random orthogonal frame (QR of a Gaussian matrix) scaled by ``sqrt(dim)``:
    an isotropic teacher (``T = I`` without ``O(1/sqrt N)`` fluctuations).

    Args:
        key: typed PRNG key.
        num_hidden: number of hidden units ``>= 1``; dim: input dimension ``N >= num_hidden``.
        dtype: float dtype (default: float32, or float64 under x64).

    Returns:
        float array ``(num_hidden, dim)``.

    Raises:
        TypeError/ValueError: non-int sizes, ``num_hidden < 1`` or ``dim < num_hidden``.
    """
    num_hidden = as_count(num_hidden, "num_hidden")
    dim = as_count(dim, "dim")
    if dim < num_hidden:
        raise ValueError(f"need dim >= num_hidden to make {num_hidden} orthonormal vectors, got dim = {dim}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    return _orthonormal(key, num_hidden, dim, dtype)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _orthonormal(key, num_hidden, dim, dtype):
    frame, _ = jnp.linalg.qr(jax.random.normal(key, (dim, num_hidden), dtype))
    return math.sqrt(dim) * frame.T


def student_weights(key: Array, teacher: ArrayLike, Q: ArrayLike, R: ArrayLike) -> Float[Array, "K N"]:
    """Random student weights with prescribed overlaps ``J J^T / N = Q`` and ``J B^T / N = R``.

    ``J = A B + L U`` with ``A = R T^{-1}`` (the part in the teacher span), ``L L^T = Q - R T^{-1}
    R^T`` and ``U`` (K, N) random, orthonormal (``U U^T / N = I``) and orthogonal to the
    teacher. The overlaps are exact up to rounding, so a simulation and the ODEs can start from
    the same point.

    Args:
        key: typed PRNG key.
        teacher: ``B`` of shape ``(M, N)`` with ``T = B B^T / N`` invertible, ``N >= K + M``.
        Q: ``(K, K)`` symmetric; R: ``(K, M)``; ``Q - R T^{-1} R^T`` positive semi-definite.

    Returns:
        float array ``(K, N)`` of ``teacher``'s dtype.

    Raises:
        ValueError/TypeError: wrong shapes, ``N < K + M``, or (concrete) overlaps that no real
            vectors have.
    """
    B = _check_weights(teacher, "teacher")
    M, N = B.shape
    Q = jnp.asarray(Q, B.dtype)
    R = jnp.asarray(R, B.dtype)
    if R.ndim != 2 or R.shape[1] != M or R.shape[0] < 1 or Q.shape != (R.shape[0], R.shape[0]):
        raise ValueError(f"need Q of shape (K, K) and R of shape (K, {M}) with K >= 1, got Q {Q.shape}, R {R.shape}")
    K = R.shape[0]
    if N < K + M:
        raise ValueError(f"N = {N} is too small: the student needs N >= K + M = {K + M} dimensions")
    if all(is_concrete(a) for a in (Q, R, B)):
        Bn, Qn, Rn = (np.asarray(a, np.float64) for a in (B, Q, R))
        residual = Qn - Rn @ np.linalg.solve(Bn @ Bn.T / N, Rn.T)
        lowest = float(np.linalg.eigvalsh(0.5 * (residual + residual.T))[0])
        if lowest < -1e-6 * max(1.0, float(np.abs(Qn).max())):
            raise ValueError(
                f"Q - R T^-1 R^T must be positive semi-definite (lowest eigenvalue {lowest:.3g}): no student has these overlaps"
            )
    return _student(key, B, Q, R)


@jax.jit
def _student(key, B, Q, R):
    K, N = R.shape[0], B.shape[1]
    T = B @ B.T / N
    A = jnp.linalg.solve(T, R.T).T
    residual = Q - A @ R.T
    values, vectors = jnp.linalg.eigh(0.5 * (residual + residual.T))
    L = vectors * jnp.sqrt(jnp.clip(values, 0.0))  # L L^T = residual
    U = jax.random.normal(key, (K, N), B.dtype)
    U = U - jnp.linalg.solve(T, B @ U.T / N).T @ B  # remove the teacher span
    frame, _ = jnp.linalg.qr(U.T)
    return A @ B + math.sqrt(N) * L @ frame.T


@functools.partial(jax.jit, static_argnames=("num_records",))
def _simulate(key, J, B, eta, gamma, noise_std, w, v, steps_per_record, num_records):
    K, N = J.shape
    dtype = J.dtype
    scale = 1.0 / math.sqrt(N)
    decay = 1.0 - gamma / N
    T = B @ B.T / N

    def step(t, J):
        z = jax.random.normal(jax.random.fold_in(key, t), (N + 1,), dtype)
        xi = z[:N]
        x = scale * (J @ xi)
        y = scale * (B @ xi)
        error = v @ _g(y) + noise_std * z[N] - w @ _g(x)
        delta = w * _g_prime(x) * error
        return decay * J + (eta * scale) * delta[:, None] * xi[None, :]

    def overlaps(J):
        return J @ J.T / N, J @ B.T / N

    def record(J, index):
        start = index * steps_per_record
        J = jax.lax.fori_loop(start, start + steps_per_record, step, J)
        return J, overlaps(J)

    J_final, (Qs, Rs) = jax.lax.scan(record, J, jnp.arange(num_records, dtype=jnp.int32))
    Q0, R0 = overlaps(J)
    Qs = jnp.concatenate([Q0[None], Qs])
    Rs = jnp.concatenate([R0[None], Rs])
    alpha = (steps_per_record / N) * jnp.arange(num_records + 1, dtype=dtype)
    # eps_g is a difference of O(1) arcsin terms: evaluate it in the widest enabled float (float64
    # under x64) so that small errors of float32 runs are not lost to cancellation
    wide = jnp.promote_types(dtype, jnp.result_type(float))
    Qw, Rw, Tw, ww, vw = (a.astype(wide) for a in (Qs, Rs, T, w, v))
    errors = _eps_g(Qw, Rw, jnp.broadcast_to(Tw, (num_records + 1,) + T.shape), ww, vw)
    status = flag(ok(), Status.NAN, ~jnp.all(jnp.isfinite(J_final)))
    invalid = _invalid_scalar(eta, True) | _invalid_scalar(gamma, False) | _invalid_scalar(noise_std, False)
    status = flag(status, Status.INVALID_PARAMETER, invalid)
    return OnlineTrajectory(alpha, Qs, Rs, errors, J_final, status)


def simulate(
    key: Array,
    student: ArrayLike,
    teacher: ArrayLike,
    eta: ArrayLike,
    *,
    alpha_max: float,
    num_records: int = 100,
    gamma: ArrayLike = 0.0,
    noise_std: ArrayLike = 0.0,
    student_readout: ArrayLike | None = None,
    teacher_readout: ArrayLike | None = None,
) -> OnlineTrajectory:
    """Online SGD of a soft committee machine on fresh Gaussian examples (module docstring).

    Runs ``num_records * steps_per_record`` steps, ``steps_per_record = round(alpha_max N /
    num_records)`` (at least 1), under ``lax.scan``/``fori_loop``, and records the order
    parameters every ``steps_per_record`` steps (choose ``alpha_max N / num_records`` integer
    to hit the times of :func:`jaxphys.theory.online.solve` exactly). Cost: ``O((K + M) N)``
    per step. ``jax.vmap`` over ``key`` for seeds, over ``eta``/``gamma``/``noise_std`` or the
    initial weights for scans; ``alpha_max`` and ``num_records`` are static.

    Args:
        key: typed PRNG key (``jax.random.key``); the only source of randomness.
        student: initial student weights ``J`` (K, N), float (e.g. :func:`student_weights`).
        teacher: teacher weights ``B`` (M, N), same dtype and ``N`` (e.g. :func:`orthonormal_weights`).
        eta: learning rate ``> 0`` (float scalar).
        alpha_max: duration in ``alpha = steps / N``, Python float ``> 0``.
        num_records: number of records after the initial one, Python int ``>= 1``.
        gamma: weight decay ``>= 0``; noise_std: standard deviation ``>= 0`` of the teacher's
            output noise (scalars).
        student_readout, teacher_readout: fixed second-layer weights (K,), (M,); ``None``: ones.

    Returns:
        :class:`OnlineTrajectory` (``alpha``, ``Q``, ``R``, ``eps_g``, ``student``, ``status``).

    Raises:
        ValueError/TypeError: weights not 2-D float arrays of a common ``N``, NaN weights,
            concrete ``eta <= 0``, ``gamma < 0``, ``noise_std < 0``, non-static
            ``alpha_max``/``num_records``, a key that is not a typed PRNG key.
    """
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError("key must be a typed PRNG key: use jax.random.key(seed), not jax.random.PRNGKey")
    if key.shape != ():
        raise ValueError(f"key must be a single key (jax.vmap over a batch of keys), got shape {key.shape}")
    J = _check_weights(student, "student")
    B = _check_weights(teacher, "teacher")
    if J.shape[1] != B.shape[1]:
        raise ValueError(f"student and teacher must have the same input dimension N, got {J.shape} and {B.shape}")
    if J.dtype != B.dtype:
        raise TypeError(f"student and teacher must have the same dtype, got {J.dtype} and {B.dtype}")
    if isinstance(alpha_max, (bool, np.bool_)) or not isinstance(alpha_max, (int, float, np.integer, np.floating)):
        raise TypeError(f"alpha_max must be a Python float (it fixes the number of steps), got {type(alpha_max).__name__}")
    if not (float(alpha_max) > 0 and math.isfinite(alpha_max)):
        raise ValueError(f"alpha_max must be a finite float > 0, got {alpha_max}")
    num_records = as_count(num_records, "num_records")
    (K, N), M = J.shape, B.shape[0]
    eta = _check_scalar(eta, "eta", positive=True).astype(J.dtype)
    gamma = _check_scalar(gamma, "gamma", positive=False).astype(J.dtype)
    noise_std = _check_scalar(noise_std, "noise_std", positive=False).astype(J.dtype)
    w, v = _readouts(_check_readout(student_readout, K, "student_readout"), _check_readout(teacher_readout, M, "teacher_readout"), K, M, J.dtype)
    steps_per_record = max(1, round(float(alpha_max) * N / num_records))
    return _simulate(key, J, B, eta, gamma, noise_std, w, v, jnp.int32(steps_per_record), num_records)
