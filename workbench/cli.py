"""Command line: ``workbench serve | catalog | collect | info | convert | diagnose | train |
runs | resume | ope``.

Run ``workbench <command> --help`` for the options of each command.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .errors import WorkbenchError

__all__ = ["main"]


def _cmd_serve(args: argparse.Namespace) -> int:
    from .ui.app import serve

    print(f"workbench: serving on http://{args.address}:{args.port}/  (Ctrl-C to stop)",
          flush=True)
    serve(port=args.port, address=args.address, dataset_roots=args.dataset_root or (),
          basic_auth=args.basic_auth, show=args.show)
    return 0


def _cmd_catalog(args: argparse.Namespace) -> int:
    from .data import catalog

    if args.build:
        for name in args.build:
            family = name.split("-")[0]
            catalog.build_family(family, progress=True)
    frame = catalog.catalog_frame()
    print(frame.to_json(orient="records") if args.json else frame.to_string(index=False))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .data.io import load_dataset

    ds = load_dataset(args.path)
    summary = {k: (list(v) if isinstance(v, tuple) else v) for k, v in ds.summary().items()}
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k:>24}: {v}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from .data.io import load_dataset

    ds = load_dataset(args.source)
    out = ds.save(args.dest, format=args.format)
    print(f"wrote {ds.n_transitions} transitions in {ds.n_episodes} episodes to {out}")
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    from .data.collect import collect

    ds = collect(args.env_id, policy=args.policy, n_steps=args.steps, seed=args.seed)
    out = ds.save(args.out, format=args.format)
    print(f"wrote {ds.n_transitions} transitions in {ds.n_episodes} episodes to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .data.collect import SCHEMES
    from .data.io import WRITE_FORMATS

    p = argparse.ArgumentParser(prog="workbench", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve the dashboard (opens on the built-in catalog)")
    s.add_argument("--port", type=int, default=5006)
    s.add_argument("--address", default="127.0.0.1", help="interface to bind (default loopback)")
    s.add_argument("--dataset-root", action="append", metavar="DIR",
                   help="directory the UI may load dataset files from (repeatable)")
    s.add_argument("--basic-auth", metavar="PASSWORD_OR_FILE", default=None)
    s.add_argument("--show", action="store_true", help="open a browser tab")
    s.set_defaults(func=_cmd_serve)

    s = sub.add_parser("catalog", help="list (and build) the built-in datasets")
    s.add_argument("--build", nargs="*", metavar="NAME", help="build these datasets' families")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_catalog)

    s = sub.add_parser("info", help="summary of a dataset file or catalog name")
    s.add_argument("path")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_info)

    s = sub.add_parser("convert", help="convert a dataset to another format")
    s.add_argument("source")
    s.add_argument("dest")
    s.add_argument("--format", choices=WRITE_FORMATS, default=None)
    s.set_defaults(func=_cmd_convert)

    from .diagnostics import cli as diagnose_cli
    from .ope import cli as ope_cli
    from .training import cli as training_cli

    diagnose_cli.add_parser(sub)
    training_cli.add_parser(sub)
    ope_cli.add_parser(sub)

    s = sub.add_parser("collect", help="generate a dataset from a gymnasium environment")
    s.add_argument("env_id")
    s.add_argument("--policy", default="random", choices=SCHEMES)
    s.add_argument("--steps", type=int, default=10_000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--format", choices=WRITE_FORMATS, default=None)
    s.set_defaults(func=_cmd_collect)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
