"""Batch sweeps from a TOML file: ``jaxphys sweep CONFIG.toml``.

A config names a model, a sampler, the chain length, the observables, a grid of control
parameters and the replicas; ``sweep.run`` does the rest (chunks, devices, checkpoints). Example
(``examples/sweep_ising.toml``)::

    [model]
    name = "ising"            # ising | edwards_anderson | sk | curie_weiss | hopfield
    sizes = [8, 16]           # lattice side L (ising/EA: shape = (L,) * dim) or N; one sweep per size
    dim = 2
    J = 1.0                   # fixed parameters (a grid axis of the same name overrides them)

    [sampler]
    name = "checkerboard"     # metropolis | heatbath | checkerboard | wolff | dense
    # options of the factory, e.g. scan = "sequential", rule = "heatbath", block_size = 64

    [run]
    num_sweeps = 2000
    burn_in = 500
    observables = ["energy", "abs_magnetization", "m2", "m4"]

    [grid]                    # outer product of the axes, in this order
    T = { start = 2.0, stop = 2.6, num = 13 }    # linspace; or a list of values
    # h = [0.0, 0.1]

    [sweep]
    replicas = 8              # independent chains (and disorder samples) per grid point
    chunk_size = 64
    seed = 0
    output = "sweep-ising"    # directory: L8.npz/.json, checkpoints, plots, summary.txt

Grid axes: ``T`` or ``beta`` (inverse temperature ``1/T``), and any scalar parameter of the
model (``J``, ``h``; SK: ``J``, ``J0``). Disorder models draw their couplings from the replica's
key, so ``replicas`` are disorder samples with one chain each. Every replica returns the chain
averages of the observables (``mc.run``), so the saved means and standard errors are over
replicas.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import mc, models
from ..observables.thermodynamic import STANDARD

try:
    import tomllib
except ImportError:  # pragma: no cover  (Python < 3.11)
    tomllib = None

MODELS = ("ising", "edwards_anderson", "sk", "curie_weiss", "hopfield")
SAMPLERS = {
    "metropolis": mc.metropolis,
    "heatbath": mc.heatbath,
    "checkerboard": mc.checkerboard,
    "wolff": mc.wolff,
    "dense": mc.dense,
}
_MODEL_PARAMETERS = {
    "ising": ("J", "h"),
    "edwards_anderson": ("J", "h"),
    "sk": ("J", "J0"),
    "curie_weiss": ("J", "h"),
    "hopfield": (),
}
_SECTIONS = ("model", "sampler", "run", "grid", "sweep")


class ConfigError(ValueError):
    """A sweep config that cannot be run; the message says which entry and how to fix it."""


def load_config(path: str | os.PathLike) -> dict:
    """Read and validate a TOML sweep config; returns the dict with defaults filled in."""
    if tomllib is None:  # pragma: no cover
        raise RuntimeError("reading TOML needs Python >= 3.11 (tomllib)")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found")
    with open(path, "rb") as f:
        try:
            config = tomllib.load(f)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return validate(config)


def _require(section: dict, key: str, where: str):
    if key not in section:
        raise ConfigError(f"[{where}] needs {key!r}")
    return section[key]


def _axis(name: str, spec) -> np.ndarray:
    if isinstance(spec, dict):
        unknown = set(spec) - {"start", "stop", "num"}
        if unknown or not {"start", "stop", "num"} <= set(spec):
            raise ConfigError(f"[grid] {name} = {{start, stop, num}} (a linspace) or a list of values; got {spec}")
        if not isinstance(spec["num"], int) or spec["num"] < 1:
            raise ConfigError(f"[grid] {name}: num must be a positive integer, got {spec['num']!r}")
        values = np.linspace(float(spec["start"]), float(spec["stop"]), spec["num"])
    elif isinstance(spec, list):
        if not spec or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec):
            raise ConfigError(f"[grid] {name} must be a non-empty list of numbers, got {spec}")
        values = np.asarray(spec, np.float64)
    else:
        raise ConfigError(f"[grid] {name} must be a list of numbers or {{start, stop, num}}, got {spec!r}")
    if not np.all(np.isfinite(values)):
        raise ConfigError(f"[grid] {name} has non-finite values")
    return values


def validate(config: dict, base: Path | None = None) -> dict:
    """Check a config dict (as read from TOML) and fill in defaults; raises :class:`ConfigError`."""
    unknown = set(config) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"unknown section(s) {sorted(unknown)}; expected {list(_SECTIONS)}")
    model = dict(_require(config, "model", "model") if "model" in config else {})
    if not model:
        raise ConfigError("the config needs a [model] section with name = one of " + ", ".join(MODELS))
    name = _require(model, "name", "model")
    if name not in MODELS:
        raise ConfigError(f"[model] name = {name!r} is not one of {MODELS}")
    sizes = _require(model, "sizes", "model")
    if isinstance(sizes, int):
        sizes = [sizes]
    if not isinstance(sizes, list) or not sizes or not all(isinstance(s, int) and s >= 2 for s in sizes):
        raise ConfigError(f"[model] sizes must be a list of integers >= 2 (L or N), got {sizes!r}")
    model["sizes"] = sizes
    model.setdefault("dim", 2)
    if name == "hopfield":
        _require(model, "load", "model")  # alpha = P / N

    sampler = dict(config.get("sampler", {"name": "metropolis"}))
    sname = sampler.pop("name", "metropolis")
    if sname not in SAMPLERS:
        raise ConfigError(f"[sampler] name = {sname!r} is not one of {sorted(SAMPLERS)}")
    if sname == "checkerboard" and name != "ising":
        raise ConfigError("the checkerboard sampler needs model 'ising'; use metropolis, heatbath or dense")
    if sname == "dense" and name not in ("sk", "curie_weiss", "hopfield"):
        raise ConfigError("the dense sampler needs a dense model (sk, curie_weiss, hopfield)")
    try:
        SAMPLERS[sname](**sampler)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"[sampler] {sname}: bad options {sampler}: {error}") from None

    run = dict(config.get("run", {}))
    num_sweeps = _require(run, "num_sweeps", "run")
    if not isinstance(num_sweeps, int) or num_sweeps < 2:
        raise ConfigError(f"[run] num_sweeps must be an integer >= 2, got {num_sweeps!r}")
    run.setdefault("burn_in", num_sweeps // 10)
    run.setdefault("num_bins", 32)
    run.setdefault("observables", ["energy", "abs_magnetization", "m2", "m4"])
    bad = [o for o in run["observables"] if o not in STANDARD]
    if bad:
        raise ConfigError(f"[run] unknown observables {bad}; choose from {sorted(STANDARD)}")

    grid_spec = config.get("grid", {})
    if not grid_spec:
        raise ConfigError("the config needs a [grid] section with at least one axis, e.g. T = [2.0, 2.5]")
    grid = {axis: _axis(axis, spec) for axis, spec in grid_spec.items()}
    allowed = {"T", "beta", *_MODEL_PARAMETERS[name]}
    unknown = set(grid) - allowed
    if unknown:
        raise ConfigError(f"[grid] axes {sorted(unknown)} are not parameters of {name!r}; allowed: {sorted(allowed)}")
    temperatures = [k for k in ("T", "beta") if k in grid or k in run]
    if len(temperatures) != 1:
        raise ConfigError("give exactly one of T or beta, as a [grid] axis or as a fixed [run] value")
    if "T" in grid and np.any(grid["T"] <= 0):
        raise ConfigError("[grid] T must be > 0")
    if "beta" in grid and np.any(grid["beta"] < 0):
        raise ConfigError("[grid] beta must be >= 0")

    sweep = dict(config.get("sweep", {}))
    sweep.setdefault("replicas", 4)
    sweep.setdefault("chunk_size", None)
    sweep.setdefault("seed", 0)
    sweep.setdefault("output", "sweep-output")
    if not isinstance(sweep["replicas"], int) or sweep["replicas"] < 1:
        raise ConfigError(f"[sweep] replicas must be a positive integer, got {sweep['replicas']!r}")
    output = Path(sweep["output"])
    if base is not None and not output.is_absolute():
        output = base / output
    sweep["output"] = str(output)
    return {"model": model, "sampler": {"name": sname, **sampler}, "run": run, "grid": grid, "sweep": sweep}


def _build_model(config: dict, size: int, point: dict, key) -> Any:
    spec = config["model"]
    name = spec["name"]
    params = {p: point.get(p, spec.get(p)) for p in _MODEL_PARAMETERS[name]}
    params = {p: v for p, v in params.items() if v is not None}
    if name == "ising":
        return models.Ising((size,) * spec["dim"], periodic=spec.get("periodic", True), **params)
    if name == "edwards_anderson":
        return models.EdwardsAnderson((size,) * spec["dim"], key=key, bonds=spec.get("bonds", "gaussian"), **params)
    if name == "sk":
        return models.SK(size, key=key, **params)
    if name == "curie_weiss":
        return models.CurieWeiss(size, **params)
    p = max(1, round(spec["load"] * size))
    return models.Hopfield(jax.random.rademacher(key, (p, size), jnp.int8))


def make_fn(config: dict, size: int) -> Callable:
    """The sweep function ``fn(key, point) -> {"mean": {obs: ...}, "stderr": ..., "status": ...}``."""
    sampler_spec = dict(config["sampler"])
    sampler = SAMPLERS[sampler_spec.pop("name")](**sampler_spec)
    run = config["run"]
    observables = {o: STANDARD[o] for o in run["observables"]}

    def fn(key, point):
        key_disorder, key_chain = jax.random.split(key)
        model = _build_model(config, size, point, key_disorder)
        if "T" in point or "T" in run:
            beta = 1.0 / point.get("T", run.get("T"))
        else:
            beta = point.get("beta", run.get("beta"))
        result = mc.run(
            key_chain,
            sampler,
            model,
            beta,
            run["num_sweeps"],
            burn_in=run["burn_in"],
            observables=observables,
            num_bins=run["num_bins"],
        )
        return {"observables": result.mean, "chain_stderr": result.stderr, "status": result.status}

    return fn


def run_config(config: dict, *, progress: bool = True, out=sys.stdout) -> dict:
    """Run every size of a validated config; write results, plots and a summary to ``output``."""
    from . import run as sweep_run

    sweep = config["sweep"]
    output = Path(sweep["output"])
    output.mkdir(parents=True, exist_ok=True)
    results = {}
    summary = []
    for size in config["model"]["sizes"]:
        label = f"{'L' if config['model']['name'] in ('ising', 'edwards_anderson') else 'N'}{size}"
        print(f"== {config['model']['name']} {label}: {math.prod(len(v) for v in config['grid'].values())} points x {sweep['replicas']} replicas", file=out, flush=True)
        with warnings.catch_warnings():  # the status summary below says the same
            warnings.simplefilter("ignore", RuntimeWarning)
            result = sweep_run(
                make_fn(config, size),
                config["grid"],
                key=jax.random.key(sweep["seed"]),
                replicas=sweep["replicas"],
                chunk_size=sweep["chunk_size"],
                checkpoint=str(output / f"checkpoint-{label}"),
                progress=progress,
            )
        result.save(output / label)
        results[label] = result
        summary.append(_summary(result, label, config))
        print(summary[-1], file=out, flush=True)
    (output / "summary.txt").write_text("\n\n".join(summary) + "\n")
    _plots(results, config, output)
    print(f"wrote {output}/ (results .npz/.json per size, summary.txt, *.png)", file=out)
    return results


def _summary(result, label: str, config: dict) -> str:
    axes = list(config["grid"])
    coords = np.stack(np.meshgrid(*config["grid"].values(), indexing="ij"), axis=-1).reshape(-1, len(axes))
    names = config["run"]["observables"]
    means = {o: np.asarray(result.field(f"observables/{o}", "mean")).reshape(-1) for o in names}
    errs = {o: np.asarray(result.field(f"observables/{o}", "stderr")).reshape(-1) for o in names}
    lines = [f"{label}: mean +- stderr over {result.replicas} replicas"]
    lines.append("  ".join(f"{a:>8s}" for a in axes) + "  " + "  ".join(f"{o:>22s}" for o in names))
    for i, point in enumerate(coords):
        cells = "  ".join(f"{v:8.4f}" for v in point)
        lines.append(cells + "  " + "  ".join(f"{means[o][i]:11.5f} +- {errs[o][i]:8.5f}" for o in names))
    lines.append(result.describe_status())
    return "\n".join(lines)


def _plots(results: dict, config: dict, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = list(config["grid"])
    for o in config["run"]["observables"]:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for label, result in results.items():
            if len(axes) == 1:
                result.plot(f"observables/{o}", ax=ax, label=label)
            else:
                result.plot(f"observables/{o}", x=axes[0], y=axes[1], ax=ax)
                break
        ax.set_title(f"{config['model']['name']}: {o}")
        if len(axes) == 1 and len(results) > 1:
            ax.legend()
        fig.tight_layout()
        fig.savefig(output / f"{o}.png", dpi=120)
        plt.close(fig)
    if len(axes) == 1 and {"m2", "m4"} <= set(config["run"]["observables"]):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for label, result in results.items():
            u, err = binder_over_replicas(result)
            ax.errorbar(result.coords[axes[0]], u, yerr=err, marker="o", ms=3, capsize=2, label=label)
        ax.set_xlabel(axes[0])
        ax.set_ylabel("Binder cumulant 1 - <m^4> / (3 <m^2>^2)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(output / "binder.png", dpi=120)
        plt.close(fig)


def binder_over_replicas(result) -> tuple[np.ndarray, np.ndarray]:
    """Binder cumulant ``U = 1 - <m^4> / (3 <m^2>^2)`` per grid point from the replicas' chain
    averages of ``m2`` and ``m4``, with a jackknife error over replicas (needs >= 2 replicas)."""
    from ..observables.stats import jackknife

    m2 = np.asarray(result.field("observables/m2", "values"), np.float64)  # (..., R)
    m4 = np.asarray(result.field("observables/m4", "values"), np.float64)
    u, err = jackknife(lambda a, b: 1.0 - b / (3.0 * a**2), np.moveaxis(m2, -1, 0), np.moveaxis(m4, -1, 0))
    return np.asarray(u), np.asarray(err)


def main(argv: list[str]) -> int:
    """``jaxphys sweep CONFIG.toml [--no-progress] [--output DIR]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="jaxphys sweep", description="Run a phase-diagram sweep described by a TOML file.")
    parser.add_argument("config", help="TOML config (see examples/sweep_ising.toml)")
    parser.add_argument("--output", help="override [sweep] output")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"jaxphys sweep: {error}", file=sys.stderr)
        return 2
    if args.output:
        config["sweep"]["output"] = args.output
    run_config(config, progress=not args.no_progress)
    return 0
