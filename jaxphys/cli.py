"""Command line: ``jaxphys demo`` (the 2D Ising phase transition), ``jaxphys sweep CONFIG.toml``
(batch phase-diagram sweeps), ``jaxphys version``."""

from __future__ import annotations

import sys

USAGE = """usage: jaxphys COMMAND [options]

commands:
  demo      2D Ising phase transition: Binder cumulant and susceptibility vs T, T_c estimate
            (jaxphys demo --help for options)
  sweep     run a phase-diagram sweep described by a TOML file, with checkpoints
            (jaxphys sweep examples/sweep_ising.toml; jaxphys sweep --help)
  version   print the versions of jaxphys and jax
"""


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "demo":
        from .demo import main as demo_main

        return demo_main(rest)
    if command == "sweep":
        from .sweep.config import main as sweep_main

        return sweep_main(rest)
    if command == "version":
        import jax

        from . import __version__

        print(f"jaxphys {__version__}, jax {jax.__version__}, devices {jax.devices()}")
        return 0
    print(f"jaxphys: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
