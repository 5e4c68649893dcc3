"""``workbench diagnose PATH [--reference PATH] [--json] [--bins N]``.

Wire it into the main CLI with::

    from workbench.diagnostics import cli as diagnose_cli
    diagnose_cli.add_parser(subparsers)          # adds the "diagnose" sub-command
    ...
    diagnose_cli.run(args)                       # args: path, reference, json, bins, ...

or run it alone: ``python -m workbench.diagnostics.cli PATH``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["add_parser", "run", "main"]

HELP = "print TQ, SACo, coverage and return statistics of a dataset"


def _configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("path", help="dataset: Minari dir, D4RL .hdf5, d3rlpy .h5, .npz, .parquet, "
                   "or a catalog name such as cartpole-mixed")
    p.add_argument("--reference", default=None, metavar="PATH",
                   help="coverage reference dataset (path or catalog name); default: the "
                   "family's replay dataset for catalog datasets, otherwise none "
                   "(unnormalised counts)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--bins", type=int, default=100, help="bins per axis for SACo (default 100)")
    p.add_argument("--random-return", type=float, default=None, dest="random_return",
                   help="TQ reference: mean return of a random policy")
    p.add_argument("--expert-return", type=float, default=None, dest="expert_return",
                   help="TQ reference: mean return of the expert policy")
    p.add_argument("--behavior-entropy", action="store_true", dest="behavior_entropy",
                   help="also fit a behaviour-cloning model and report its mean entropy "
                   "(a few seconds)")
    return p


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``diagnose`` sub-command to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser("diagnose", help=HELP, description=HELP)
    _configure(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Diagnose ``args.path`` and print the report (text, or JSON with ``args.json``).

    ``args`` needs ``path``, ``reference``, ``json`` and ``bins``; ``random_return``,
    ``expert_return`` and ``behavior_entropy`` are optional.  Returns the exit code (0).
    :class:`~workbench.errors.WorkbenchError` propagates for the caller to print.
    """
    from .report import diagnose

    out = out or sys.stdout
    report = diagnose(args.path, reference=getattr(args, "reference", None),
                      random_return=getattr(args, "random_return", None),
                      expert_return=getattr(args, "expert_return", None),
                      bins=getattr(args, "bins", 100) or 100,
                      behavior_entropy=bool(getattr(args, "behavior_entropy", False)))
    if getattr(args, "json", False):
        print(report.to_json(indent=2), file=out)
    else:
        print(report, file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: the same as ``workbench diagnose ...`` (errors as one line,
    exit 2)."""
    from ..cli import main as workbench_main

    return workbench_main(["diagnose", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
