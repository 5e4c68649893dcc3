"""``workbench ope DATASET --policy NAME=SOURCE [...]``: off-policy estimates on the command line.

``SOURCE`` is a run id of the run store (resolved with ``workbench.training.load_run``)
or a path to a saved d3rlpy algorithm (``.d3``, ``d3rlpy.load_learnable``).

Wire it into the main CLI with::

    from workbench.ope import cli as ope_cli
    ope_cli.add_parser(subparsers)     # adds the "ope" sub-command (sets func=ope_cli.run)
    ...
    ope_cli.run(args)

or run it alone: ``python -m workbench.ope.cli DATASET --policy a=RUN_ID``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["add_parser", "run", "main"]

HELP = "estimate policy values off-policy (FQE, IS/WIS/PDIS/WPDIS, DR/WDR) with intervals"


def _configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("path", help="dataset: file/dir readable by load_dataset or a catalog name")
    p.add_argument("--policy", "-p", action="append", default=[], metavar="NAME=SOURCE",
                   required=True,
                   help="policy to evaluate: a run id or a saved d3rlpy .d3 file (repeatable)")
    p.add_argument("--estimators", "-e", default="fqe,wis,pdis,dr",
                   help="comma-separated: fqe (dm), is, wis, pdis, wpdis, dr, wdr "
                   "(default fqe,wis,pdis,dr)")
    p.add_argument("--gamma", type=float, default=0.99, help="discount in (0, 1] (0.99)")
    p.add_argument("--env", default=None,
                   help="gymnasium id for on-policy ground truth (adds true_value columns and "
                   "the selection metrics)")
    p.add_argument("--n-rollouts", type=int, default=100, dest="n_rollouts",
                   help="ground-truth episodes per policy (100)")
    p.add_argument("--n-bootstrap", type=int, default=1000, dest="n_bootstrap",
                   help="bootstrap resamples for the intervals (1000; 0: none)")
    p.add_argument("--epsilon", type=float, default=0.1,
                   help="ε of the ε-soft greedy version of discrete policies (0.1)")
    p.add_argument("--temperature", type=float, default=None,
                   help="softmax over Q with this temperature instead of ε-greedy")
    p.add_argument("--bandwidth", type=float, default=0.2,
                   help="kernel bandwidth for deterministic continuous policies (0.2)")
    p.add_argument("--weight-clip", type=float, default=None, dest="weight_clip",
                   help="cap on cumulative importance weights")
    p.add_argument("--behavior", default=None, choices=["logged", "bc"],
                   help="behaviour probabilities: logged, or estimated by cross-fitted BC "
                   "(default: logged when present)")
    p.add_argument("--fqe-steps", type=int, default=None, dest="fqe_steps",
                   help="FQE gradient steps (default 5000)")
    p.add_argument("--fqe-refits", type=int, default=0, dest="fqe_refits",
                   help="FQE's interval from this many refits on bootstrap resamples "
                   "(0: FQE is a point estimate)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table",
                   help="output format (table)")
    return p


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``ope`` sub-command to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser("ope", help=HELP, description=HELP)
    _configure(p)
    p.set_defaults(func=run)
    return p


def _load_policy(source: str) -> Any:
    path = Path(source)
    if path.suffix == ".d3" or path.is_file():
        from .._d3rlpy import d3rlpy
        from ..errors import OPEError

        try:
            return d3rlpy.load_learnable(str(path), device="cpu:0")
        except Exception as exc:
            raise OPEError(f"{source}: could not load a d3rlpy algorithm ({exc})") from None
    return source  # a run id, resolved by evaluate_ope


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``evaluate_ope`` with the parsed arguments and print the frame (and, with
    ``--env``, the selection metrics).  Returns the exit code (0); WorkbenchError propagates
    for the caller to print."""
    from ..errors import ConfigError
    from .evaluate import evaluate_ope
    from .selection import ope_selection_metrics

    out = out or sys.stdout
    policies = {}
    for spec in args.policy:
        name, sep, source = spec.partition("=")
        if not sep or not name or not source:
            raise ConfigError(f"--policy expects NAME=SOURCE, got {spec!r}")
        policies[name] = _load_policy(source)
    estimators = [e.strip() for e in args.estimators.split(",") if e.strip()]
    fqe_cfg = {"n_steps": args.fqe_steps} if getattr(args, "fqe_steps", None) else None
    frame = evaluate_ope(args.path, policies, estimators=estimators,
                         behavior=getattr(args, "behavior", None), env=args.env,
                         gamma=args.gamma, n_bootstrap=args.n_bootstrap,
                         epsilon=args.epsilon, temperature=args.temperature,
                         bandwidth=args.bandwidth, weight_clip=args.weight_clip,
                         fqe_config=fqe_cfg, fqe_refits=getattr(args, "fqe_refits", 0),
                         n_rollouts=args.n_rollouts, seed=args.seed)
    metrics = ope_selection_metrics(frame) if args.env else None
    fmt = getattr(args, "format", "table")
    if fmt == "csv":
        frame.to_csv(out, index=False)
    elif fmt == "json":
        import json

        doc = {"estimates": frame.to_dict(orient="records"), "attrs": dict(frame.attrs)}
        if metrics is not None:
            doc["selection_metrics"] = metrics.reset_index().to_dict(orient="records")
        print(json.dumps(doc, indent=2, default=float), file=out)
    else:
        cols = [c for c in ("policy", "estimator", "estimate", "ci_low", "ci_high",
                            "true_value", "true_ci_low", "true_ci_high", "ess",
                            "max_weight_share") if c in frame.columns]
        print(frame[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"), file=out)
        if metrics is not None:
            print("\nselection metrics (ground truth from the simulator):", file=out)
            print(metrics.to_string(float_format=lambda x: f"{x:.4g}"), file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: the same as ``workbench ope ...`` (errors as one line, exit 2)."""
    from ..cli import main as workbench_main

    return workbench_main(["ope", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
