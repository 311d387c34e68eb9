"""Tests of jaxphys.theory.quadrature and jaxphys.theory.fixed_point.

Nothing here is statistical: quadrature is checked against Gaussian moments it integrates
exactly, solvers against problems with closed-form solutions, and implicit derivatives against
the analytic derivative and against central finite differences (in float64, under
``jax.enable_x64(True)``). Default-dtype (float32) runs get float32 tolerances.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.status import Status
from jaxphys.theory import fixed_point, quadrature


def _double_factorial(n: int) -> int:
    return math.prod(range(n, 0, -2)) if n > 0 else 1


# --------------------------------------------------------------------------- quadrature


def test_gauss_hermite_exact_on_polynomials():
    num_nodes = 5  # exact up to degree 2 * 5 - 1 = 9
    nodes, weights = quadrature.gauss_hermite(num_nodes)
    assert nodes.dtype == np.float64 and weights.dtype == np.float64
    assert nodes.shape == weights.shape == (num_nodes,)
    np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-14)
    for degree in range(2 * num_nodes):
        exact = _double_factorial(degree - 1) if degree % 2 == 0 else 0.0
        np.testing.assert_allclose(np.sum(weights * nodes**degree), exact, rtol=1e-12, atol=1e-12)
    # degree 10 is the first one it misses: 9!! = 945
    assert abs(np.sum(weights * nodes**10) - 945.0) > 1.0
    assert quadrature.gauss_hermite(num_nodes)[0] is nodes  # cached
    with pytest.raises(ValueError):
        nodes[0] = 1.0  # read-only, so the cache cannot be corrupted


def test_gaussian_expectation_moments_and_derivatives():
    mean, std = 0.3, 1.7
    got = quadrature.gaussian_expectation(lambda x: x**3, mean=mean, std=std)
    np.testing.assert_allclose(got, mean**3 + 3 * mean * std**2, rtol=1e-5)
    # d/dmean E x^2 = 2 mean, d/dstd E x^2 = 2 std
    grad = jax.grad(lambda m, s: quadrature.gaussian_expectation(lambda x: x**2, mean=m, std=s), argnums=(0, 1))(mean, std)
    np.testing.assert_allclose(grad, (2 * mean, 2 * std), rtol=1e-5)
    # differentiable in what f closes over; trailing shapes and pytrees kept
    a = jnp.array([1.0, 2.0, 3.0])
    out = quadrature.gaussian_expectation(lambda z: {"v": jnp.cos(a * z[:, None]), "s": z**2})
    np.testing.assert_allclose(out["v"], np.exp(-0.5 * np.asarray(a) ** 2), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["s"], 1.0, rtol=1e-5)
    d = jax.grad(lambda a: quadrature.gaussian_expectation(lambda z: jnp.cos(a * z)))(2.0)
    np.testing.assert_allclose(d, -2.0 * np.exp(-2.0), rtol=1e-4)
    # array mean: node axis first, then the mean's shape
    means = jnp.array([0.0, 1.0, -2.0])
    np.testing.assert_allclose(quadrature.gaussian_expectation(lambda x: x**2, mean=means), 1 + means**2, rtol=1e-5)
    # jit and vmap
    f = jax.jit(jax.vmap(lambda s: quadrature.gaussian_expectation(lambda x: x**4, std=s)))
    np.testing.assert_allclose(f(jnp.array([0.5, 2.0])), 3 * np.array([0.5, 2.0]) ** 4, rtol=1e-5)


def test_gaussian_expectation_2d_moments():
    var1, var2 = 2.0, 0.5
    for rho in (-0.9, 0.0, 0.4, 1.0):
        e12 = quadrature.gaussian_expectation_2d(lambda x1, x2: x1 * x2, rho, var1=var1, var2=var2)
        np.testing.assert_allclose(e12, rho * math.sqrt(var1 * var2), rtol=1e-5, atol=1e-6)
        e22 = quadrature.gaussian_expectation_2d(lambda x1, x2: x1**2 * x2**2, rho, var1=var1, var2=var2)
        np.testing.assert_allclose(e22, var1 * var2 * (1 + 2 * rho**2), rtol=1e-5)
        marg = quadrature.gaussian_expectation_2d(lambda x1, x2: jnp.stack([x1**2, x2**2], -1), rho, var1=var1, var2=var2)
        np.testing.assert_allclose(marg, [var1, var2], rtol=1e-5)
    # d/drho E[x1^2 x2^2] = 4 rho var1 var2
    rho = 0.3
    grad = jax.grad(lambda r: quadrature.gaussian_expectation_2d(lambda a, b: a**2 * b**2, r, var1=var1, var2=var2))(rho)
    np.testing.assert_allclose(grad, 4 * rho * var1 * var2, rtol=1e-4)
    # traced rho under vmap + jit
    rhos = jnp.array([-0.5, 0.25])
    got = jax.jit(jax.vmap(lambda r: quadrature.gaussian_expectation_2d(lambda a, b: a * b, r)))(rhos)
    np.testing.assert_allclose(got, rhos, rtol=1e-5)


def test_gaussian_tail():
    for x in (-3.0, 0.0, 1.0, 4.0):
        np.testing.assert_allclose(quadrature.H(x), 0.5 * math.erfc(x / math.sqrt(2)), rtol=1e-5)
    for x in (1.0, 10.0, 30.0):  # far tail: H underflows in float32 at ~13, log_H does not
        np.testing.assert_allclose(quadrature.log_H(x), math.log(0.5 * math.erfc(x / math.sqrt(2))), rtol=1e-5)
    np.testing.assert_allclose(jax.grad(quadrature.H)(0.5), -math.exp(-0.125) / math.sqrt(2 * math.pi), rtol=1e-5)
    assert quadrature.H(jnp.zeros((2, 3))).shape == (2, 3)


def test_quadrature_bad_input():
    with pytest.raises(ValueError, match="num_nodes"):
        quadrature.gauss_hermite(0)
    with pytest.raises(TypeError, match="num_nodes"):
        quadrature.gaussian_expectation(jnp.sin, num_nodes=3.0)
    with pytest.raises(TypeError, match="callable"):
        quadrature.gaussian_expectation(3.0)
    with pytest.raises(ValueError, match="rho"):
        quadrature.gaussian_expectation_2d(lambda a, b: a * b, 1.5)
    with pytest.raises(ValueError, match="var2"):
        quadrature.gaussian_expectation_2d(lambda a, b: a * b, 0.5, var2=-1.0)
    with pytest.raises(ValueError, match="vectorised"):
        quadrature.gaussian_expectation(lambda z: jnp.sum(z))


# --------------------------------------------------------------------------- solve


def _cosine_map(x, a):
    return a * jnp.cos(x)


def _cosine_dx_da(x, a):
    # x = a cos x  =>  dx/da = cos x / (1 + a sin x)
    return np.cos(x) / (1 + a * np.sin(x))


def test_solve_cosine_fixed_point_and_implicit_derivatives():
    sol = fixed_point.solve(_cosine_map, 0.5, 1.0)
    assert int(sol.status) == Status.OK
    np.testing.assert_allclose(sol.value, 0.7390851332151607, rtol=2e-6)  # the Dottie number
    assert 0 < int(sol.num_steps) < 100

    def x_of(a):
        return fixed_point.solve(_cosine_map, 0.5, a).value

    a = 1.3
    x = float(x_of(a))
    np.testing.assert_allclose(jax.grad(x_of)(a), _cosine_dx_da(x, a), rtol=1e-5)
    np.testing.assert_allclose(jax.jit(jax.jacfwd(x_of))(a), _cosine_dx_da(x, a), rtol=1e-5)
    a_grid = jnp.linspace(0.5, 2.0, 5)
    batched = jax.jit(jax.vmap(lambda a: fixed_point.solve(_cosine_map, 0.5, a)))(a_grid)
    assert np.all(np.asarray(batched.status) == 0)
    np.testing.assert_allclose(batched.value, a_grid * jnp.cos(batched.value), rtol=1e-5)
    np.testing.assert_allclose(
        jax.vmap(jax.grad(x_of))(a_grid), _cosine_dx_da(np.asarray(batched.value), np.asarray(a_grid)), rtol=1e-5
    )
    # differentiable in what the update closes over, too
    np.testing.assert_allclose(
        jax.grad(lambda a: fixed_point.solve(lambda x, _: a * jnp.cos(x), 0.5, None).value)(a), _cosine_dx_da(x, a), rtol=1e-5
    )

    with jax.enable_x64(True):
        h = 1e-5
        x = float(x_of(a))
        fd = (x_of(a + h) - x_of(a - h)) / (2 * h)
        np.testing.assert_allclose(jax.grad(x_of)(a), fd, rtol=1e-8)
        np.testing.assert_allclose(jax.grad(x_of)(a), _cosine_dx_da(x, a), rtol=1e-12)
        # second derivative (the implicit rule re-enters itself) vs differences of the analytic first
        d1 = lambda a: _cosine_dx_da(float(x_of(a)), a)  # noqa: E731
        fd2 = (d1(a + h) - d1(a - h)) / (2 * h)
        np.testing.assert_allclose(jax.grad(jax.grad(x_of))(a), fd2, rtol=1e-6)


def test_solve_pytree_linear_system():
    # x = A x + b with spectral radius < 1: x* = (I - A)^{-1} b and dx*/db = (I - A)^{-1}
    A = jnp.array([[0.2, -0.3], [0.1, 0.4]])
    params = {"A": A, "b": jnp.array([1.0, -2.0])}

    def update(x, p):
        v = jnp.stack([x["u"], x["w"]])
        new = p["A"] @ v + p["b"]
        return {"u": new[0], "w": new[1]}

    sol = fixed_point.solve(update, {"u": 0.0, "w": 0.0}, params)
    exact = np.linalg.solve(np.eye(2) - np.asarray(A), np.asarray(params["b"]))
    assert int(sol.status) == 0
    np.testing.assert_allclose([sol.value["u"], sol.value["w"]], exact, rtol=1e-5)
    jac = jax.jacfwd(lambda p: fixed_point.solve(update, {"u": 0.0, "w": 0.0}, p).value)(params)
    inv = np.linalg.inv(np.eye(2) - np.asarray(A))
    np.testing.assert_allclose(np.stack([jac["u"]["b"], jac["w"]["b"]]), inv, rtol=1e-5)
    # dx*/dA_ij = (I - A)^{-1}_{ki} x*_j
    np.testing.assert_allclose(jac["u"]["A"], inv[0][:, None] * exact[None, :], rtol=1e-5)


def test_solve_critical_slowing_down_rescued_by_newton():
    # m = tanh(beta m) with beta = 1.01: the map's slope at m* is 1 - O(0.02), so damped
    # iteration alone is slow and stops at a residual that hides an error r / (1 - slope);
    # the Newton polish gives m* to float32 accuracy. Reference by float64 bisection.
    beta = 1.01
    sol = fixed_point.solve(lambda m, b: jnp.tanh(b * m), 0.5, beta, max_steps=200)
    lo, hi = 0.01, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if math.tanh(beta * mid) > mid else (lo, mid)
    assert int(sol.status) == 0
    np.testing.assert_allclose(sol.value, lo, rtol=1e-4)
    # dm/dbeta = m sech^2(beta m) / (1 - beta sech^2(beta m))
    sech2 = 1 - math.tanh(beta * lo) ** 2
    grad = jax.grad(lambda b: fixed_point.solve(lambda m, b: jnp.tanh(b * m), 0.5, b, max_steps=200).value)(beta)
    np.testing.assert_allclose(grad, lo * sech2 / (1 - beta * sech2), rtol=2e-3)


def test_solve_statuses():
    diverging = fixed_point.solve(lambda x, p: 2.0 * x + p, 0.0, 1.0, max_steps=20, newton_steps=0, anderson=0)
    assert int(diverging.status) == Status.NOT_CONVERGED
    assert int(diverging.num_steps) == 20
    # Anderson solves the linear map exactly (x = -1), finds that point repels the damped
    # iteration, and redoes the plain iteration: same answer and status as anderson=0
    accelerated = fixed_point.solve(lambda x, p: 2.0 * x + p, 0.0, 1.0, max_steps=20, newton_steps=0, anderson=5)
    assert int(accelerated.status) == Status.NOT_CONVERGED
    assert float(accelerated.value) == float(diverging.value)
    nan = fixed_point.solve(lambda x, p: x * p, 1.0, jnp.nan)
    assert int(nan.status) & Status.NAN
    # a bad replica does not spoil the others under vmap
    batch = jax.vmap(lambda p: fixed_point.solve(lambda x, p: 0.5 * x + p, 0.0, p))(jnp.array([1.0, jnp.nan, -1.0]))
    np.testing.assert_array_equal(np.asarray(batch.status) != 0, [False, True, False])
    np.testing.assert_allclose(np.asarray(batch.value)[[0, 2]], [2.0, -2.0], rtol=1e-5)
    # Newton alone (max_steps=0) solves a linear map that plain iteration cannot
    newton = fixed_point.solve(lambda x, p: 2.0 * x + p, 0.0, 1.0, max_steps=0)
    assert int(newton.status) == 0
    np.testing.assert_allclose(newton.value, -1.0, rtol=1e-6)


def test_solve_bad_input():
    with pytest.raises(TypeError, match="update"):
        fixed_point.solve(1.0, 0.0, None)
    with pytest.raises(ValueError, match="damping"):
        fixed_point.solve(_cosine_map, 0.0, 1.0, damping=1.0)
    with pytest.raises(ValueError, match="tol"):
        fixed_point.solve(_cosine_map, 0.0, 1.0, tol=-1.0)
    with pytest.raises(TypeError, match="max_steps"):
        fixed_point.solve(_cosine_map, 0.0, 1.0, max_steps=10.5)
    with pytest.raises(ValueError, match="structure"):
        fixed_point.solve(lambda x, p: jnp.stack([x, x]), 0.0, None)
    with pytest.raises(ValueError, match="at least one"):
        fixed_point.solve(_cosine_map, {}, 1.0)


# --------------------------------------------------------------------------- root


def test_root_newton_and_implicit_derivatives():
    sol = fixed_point.root(lambda x, p: x**2 - p, 1.0, 2.0)
    assert int(sol.status) == 0
    np.testing.assert_allclose(sol.value, math.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(
        jax.grad(lambda p: fixed_point.root(lambda x, p: x**2 - p, 1.0, p).value)(2.0), 0.5 / math.sqrt(2), rtol=1e-5
    )

    # circle of radius r meets the line y = s x at x = r / sqrt(1 + s^2): a 2-D pytree system
    def fn(z, p):
        return jnp.stack([z["x"] ** 2 + z["y"] ** 2 - p["r"] ** 2, z["y"] - p["s"] * z["x"]])

    def x_of(p):
        return fixed_point.root(fn, {"x": 1.0, "y": 0.5}, p).value["x"]

    p = {"r": 2.0, "s": 0.75}
    np.testing.assert_allclose(x_of(p), 2.0 / 1.25, rtol=1e-6)
    grad = jax.grad(x_of)(p)
    np.testing.assert_allclose(grad["r"], 1 / 1.25, rtol=1e-5)
    np.testing.assert_allclose(grad["s"], -2.0 * 0.75 / 1.25**3, rtol=1e-5)
    xs = jax.jit(jax.vmap(lambda r: x_of({"r": r, "s": 0.75})))(jnp.array([1.0, 3.0]))
    np.testing.assert_allclose(xs, np.array([1.0, 3.0]) / 1.25, rtol=1e-6)
    with jax.enable_x64(True):
        h = 1e-6
        fd = (x_of({"r": 2.0, "s": 0.75 + h}) - x_of({"r": 2.0, "s": 0.75 - h})) / (2 * h)
        np.testing.assert_allclose(jax.grad(x_of)(p)["s"], fd, rtol=1e-8)


def test_root_statuses_and_bad_input():
    no_root = fixed_point.root(lambda x, p: x**2 + p, 0.5, 1.0, max_steps=20)
    assert int(no_root.status) & Status.NOT_CONVERGED
    assert int(fixed_point.root(lambda x, p: x - p, 0.0, jnp.nan).status) & Status.NAN
    with pytest.raises(ValueError, match="as many"):
        fixed_point.root(lambda x, p: jnp.stack([x, x]), 0.0, None)
    with pytest.raises(ValueError, match="max_steps"):
        fixed_point.root(lambda x, p: x, 0.0, None, max_steps=0)


# --------------------------------------------------------------------------- bracket_root


def test_bracket_root_and_implicit_derivative():
    def cube(x, p):
        return x**3 - p

    sol = fixed_point.bracket_root(cube, 0.0, 3.0, 2.0)
    assert int(sol.status) == 0
    np.testing.assert_allclose(sol.value, 2 ** (1 / 3), rtol=1e-6)
    assert int(sol.num_steps) < 40  # faster than bisection alone (~32 steps to float32 precision)
    # order of the ends does not matter; an end that is a root is returned as such
    np.testing.assert_allclose(fixed_point.bracket_root(cube, 3.0, 0.0, 2.0).value, 2 ** (1 / 3), rtol=1e-6)
    np.testing.assert_allclose(fixed_point.bracket_root(cube, 1.0, 3.0, 1.0).value, 1.0)
    np.testing.assert_allclose(fixed_point.bracket_root(cube, -1.0, 1.0, 1.0).value, 1.0)

    def root_of(p):
        return fixed_point.bracket_root(cube, 0.0, 3.0, p).value

    # dx/dp = 1 / (3 x^2) = p^(-2/3) / 3
    np.testing.assert_allclose(jax.grad(root_of)(2.0), 2 ** (-2 / 3) / 3, rtol=1e-5)
    ps = jnp.array([0.5, 1.0, 8.0])
    np.testing.assert_allclose(jax.jit(jax.vmap(root_of))(ps), ps ** (1 / 3), rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(jax.grad(root_of))(ps), ps ** (-2 / 3) / 3, rtol=1e-5)
    # traced bracket ends
    np.testing.assert_allclose(
        jax.jit(lambda hi: fixed_point.bracket_root(cube, 0.0, hi, 2.0).value)(5.0), 2 ** (1 / 3), rtol=1e-6
    )
    with jax.enable_x64(True):
        # cos x = a x on [0, pi/2]: dx/da = -x / (sin x + a), vs finite differences
        def dottie(a):
            return fixed_point.bracket_root(lambda x, a: jnp.cos(x) - a * x, 0.0, math.pi / 2, a).value

        a, h = 0.7, 1e-6
        x = float(dottie(a))
        np.testing.assert_allclose(math.cos(x), a * x, rtol=1e-9)  # tol = 1e-10 on x
        np.testing.assert_allclose(jax.grad(dottie)(a), -x / (math.sin(x) + a), rtol=1e-10)
        np.testing.assert_allclose(jax.grad(dottie)(a), (dottie(a + h) - dottie(a - h)) / (2 * h), rtol=1e-7)


def test_bracket_root_statuses_and_bad_input():
    no_change = fixed_point.bracket_root(lambda x, p: x**2 + p, -1.0, 1.0, 1.0)
    assert int(no_change.status) == Status.INVALID_PARAMETER
    assert np.isnan(no_change.value)
    assert int(fixed_point.bracket_root(lambda x, p: x - p, 0.0, jnp.inf, 1.0).status) == Status.INVALID_PARAMETER
    slow = fixed_point.bracket_root(lambda x, p: jnp.tanh(x - p), -10.0, 10.0, 0.1234, max_steps=2)
    assert int(slow.status) == Status.NOT_CONVERGED
    batch = jax.vmap(lambda p: fixed_point.bracket_root(lambda x, p: x - p, 0.0, 1.0, p))(jnp.array([0.5, 2.0]))
    np.testing.assert_array_equal(batch.status, [0, int(Status.INVALID_PARAMETER)])
    with pytest.raises(ValueError, match="scalars"):
        fixed_point.bracket_root(lambda x, p: x, jnp.zeros(2), 1.0, None)
    with pytest.raises(ValueError, match="scalar"):
        fixed_point.bracket_root(lambda x, p: jnp.stack([x, x]), 0.0, 1.0, None)
    with pytest.raises(TypeError, match="tol"):
        fixed_point.bracket_root(lambda x, p: x, 0.0, 1.0, None, tol="small")


def test_gauss_hermite_is_stable_for_many_nodes():
    """Golub-Welsch nodes stay finite where numpy's hermegauss overflows (>~ 300 nodes)."""
    for n in (300, 512):
        z, w = quadrature.gauss_hermite(n)
        assert np.all(np.isfinite(z)) and np.all(w >= 0)
        np.testing.assert_allclose([w.sum(), w @ z**2, w @ z**4, w @ z**6], [1, 1, 3, 15], rtol=1e-11)


def _sk_rs(x, p):
    """SK replica-symmetric map (m, q) with a 64-node Gauss-Hermite rule (q = 0 is a repelling
    fixed point below T = 1 at h = 0; convergence is critical near T = 1 and the AT line)."""
    z, w = np.polynomial.hermite_e.hermegauss(64)
    T, h = p
    t = jnp.tanh((h + jnp.sqrt(jnp.maximum(x["q"], 0.0)) * z) / T)
    w = w / w.sum()
    return {"m": jnp.sum(w * t), "q": jnp.sum(w * t * t)}


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def test_anderson_matches_plain_iteration_on_a_grid(x64):
    # the same fixed points as plain damped iteration over a (T, h) grid that crosses T_c = 1 and
    # h = 0 (where Anderson alone may land on the repelling q = 0), in far fewer steps
    Ts, hs = np.meshgrid(np.linspace(0.3, 1.8, 12), np.array([0.0, 0.02, 0.3, 1.0]), indexing="ij")
    x0 = {"m": 1.0, "q": 1.0}
    solve = jax.jit(jax.vmap(lambda T, h, a: fixed_point.solve(_sk_rs, x0, (T, h), anderson=a), in_axes=(0, 0, None)), static_argnums=2)
    plain, fast = solve(Ts.ravel(), hs.ravel(), 0), solve(Ts.ravel(), hs.ravel(), 5)
    assert np.all(np.asarray(plain.status) == 0) and np.all(np.asarray(fast.status) == 0)
    for key in ("m", "q"):
        np.testing.assert_allclose(fast.value[key], plain.value[key], atol=1e-9)
    assert np.all(np.asarray(plain.value["q"])[Ts.ravel() < 0.95] > 0.05)  # the stable, q > 0 branch
    assert int(fast.num_steps.max()) < int(plain.num_steps.max()) / 10
    # implicit derivatives are unchanged
    dq = jax.grad(lambda T: fixed_point.solve(_sk_rs, x0, (T, 0.3), anderson=5).value["q"])(0.7)
    dq_plain = jax.grad(lambda T: fixed_point.solve(_sk_rs, x0, (T, 0.3), anderson=0).value["q"])(0.7)
    np.testing.assert_allclose(dq, dq_plain, rtol=1e-6)


def test_anderson_bad_memory():
    with pytest.raises(ValueError, match="anderson"):
        fixed_point.solve(lambda x, p: 0.5 * x + p, 0.0, 1.0, anderson=-1)


def test_trapezoid_expectation_of_a_sharp_step(x64):
    # E_z Phi(m + s z) = Phi(m / sqrt(1 + s^2)) exactly; the step has unit width in x = m + s z,
    # i.e. width 1/s in z, which 64 Gauss-Hermite nodes cannot resolve at s = 30
    Phi = jax.scipy.stats.norm.cdf
    for m, s in ((0.7, 0.5), (3.0, 30.0), (-20.0, 30.0)):
        exact = float(Phi(m / math.sqrt(1.0 + s * s)))
        value = quadrature.gaussian_expectation_trapezoid(Phi, m, s)
        assert float(value) == pytest.approx(exact, abs=1e-12)
    coarse = quadrature.gaussian_expectation(lambda z: Phi(3.0 + 30.0 * z), num_nodes=64)
    assert abs(float(coarse) - float(Phi(3.0 / math.sqrt(901.0)))) > 1e-6  # why the dense rule exists
