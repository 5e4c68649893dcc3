"""``workbench train`` and ``workbench runs`` (wired into :mod:`workbench.cli`).

    workbench train DATASET --algo cql --steps N [--seed S] [--device auto] [--executor thread]
                    [--ray-address auto|HOST:PORT] [--env ID] [--log-every K]
                    [--checkpoint-seconds S] [--set NAME=VALUE ...] [--json]
    workbench runs [--json] [--run RUN_ID]
    workbench resume RUN_ID

Wire with ``add_parser(subparsers)``: each subcommand sets ``func``, called as
``args.func(args)`` and returning the exit status.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "run", "run_runs", "run_resume"]


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _hyperparameters(pairs: list[str] | None) -> dict[str, Any]:
    from ..errors import ConfigError

    out: dict[str, Any] = {}
    for p in pairs or []:
        if "=" not in p:
            raise ConfigError(f"--set expects NAME=VALUE, got {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = _value(v.strip())
    return out


def add_parser(subparsers: Any) -> None:
    """Add ``train``, ``runs`` and ``resume`` to an ``argparse`` subparsers object."""
    s = subparsers.add_parser("train", help="train an offline-RL agent on a dataset")
    s.add_argument("dataset", help="dataset file/directory or catalog name")
    s.add_argument("--algo", default="cql", help="algorithm (cql picks the variant; see "
                   "workbench.training.algorithms())")
    s.add_argument("--steps", type=int, default=10_000, help="gradient updates")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    s.add_argument("--executor", default="thread", choices=["thread", "process", "ray"])
    s.add_argument("--ray-address", default=None,
                   help="with --executor ray: auto, host:port or ray://host:port (default: a "
                   "local Ray on 127.0.0.1)")
    s.add_argument("--env", default=None, help="gymnasium id for eval/return")
    s.add_argument("--log-every", type=int, default=None)
    s.add_argument("--eval-every", type=int, default=None)
    s.add_argument("--checkpoint-every", type=int, default=None)
    s.add_argument("--checkpoint-seconds", type=float, default=None,
                   help="also checkpoint every this many seconds of wall time (default 30; "
                   "0 = off)")
    s.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="hyperparameter (JSON value), repeatable: --set batch_size=256")
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(func=run)

    s = subparsers.add_parser("runs", help="list recorded training runs")
    s.add_argument("--run", default=None, help="show one run's params and last metrics")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_runs)

    s = subparsers.add_parser("resume", help="resume a crashed/cancelled run from its checkpoint")
    s.add_argument("run_id")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=run_resume)


def _report(job: Any, as_json: bool) -> int:
    last = job.metrics()
    final = (last.sort_values("step").groupby("name")["value"].last().to_dict()
             if len(last) else {})
    if as_json:
        print(json.dumps({"run_id": job.run_id, "algo": job.algo, "status": job.status,
                          "step": job.step, "error": job.error,
                          "metrics": {k: v for k, v in final.items()
                                      if not k.startswith("time/")}}, default=str))
    else:
        print(f"run {job.run_id}: {job.algo} {job.status} after {job.step} steps")
        for k, v in sorted(final.items()):
            if not k.startswith("time/"):
                print(f"  {k:>20}: {v:.6g}")
        if job.error:
            print(job.error)
    return 0 if job.status == "completed" else 1


def run(args: argparse.Namespace) -> int:
    """``workbench train``: one job with a progress bar; exit 0 when completed, 1 otherwise.

    Ctrl-C cancels the job (it stops after the current update) and exits 130.
    """
    from .job import train

    job = train(args.dataset, algo=args.algo, n_steps=args.steps, seed=args.seed,
                device=args.device, executor=args.executor, env=args.env,
                **({} if args.ray_address is None else {"ray_address": args.ray_address}),
                log_every=args.log_every, eval_every=args.eval_every,
                checkpoint_every=args.checkpoint_every,
                **({} if args.checkpoint_seconds is None else
                   {"checkpoint_seconds": args.checkpoint_seconds}),
                **_hyperparameters(args.set))
    try:
        job.wait(progress=not args.no_progress)
    except KeyboardInterrupt:
        job.cancel()
        job.wait(progress=False)
        print(f"run {job.run_id} cancelled at step {job.step}")
        return 130
    return _report(job, args.json)


def run_runs(args: argparse.Namespace) -> int:
    """``workbench runs``: the run table, or one run's details."""
    from ..tracking import runs
    from .runs import load_run

    if args.run:
        r = load_run(args.run)
        last = (r.metrics.sort_values("step").groupby("name")["value"].last().to_dict()
                if len(r.metrics) else {})
        out = {"info": r.info, "params": r.params, "last_metrics": last}
        print(json.dumps(out, default=str, indent=None if args.json else 2))
        return 0
    df = runs()
    cols = ["run_id", "algo", "dataset", "status", "seed", "step", "n_steps", "overfitting",
            "underfitting", "created"]
    if args.json:
        print(df[cols].to_json(orient="records", date_format="iso"))
    elif df.empty:
        print("no runs yet: start one with `workbench train DATASET --algo cql --steps N`")
    else:
        print(df[cols].to_string(index=False))
    return 0


def run_resume(args: argparse.Namespace) -> int:
    """``workbench resume RUN_ID``."""
    from .job import resume

    job = resume(args.run_id)
    try:
        job.wait(progress=not args.no_progress)
    except KeyboardInterrupt:
        job.cancel()
        job.wait(progress=False)
        return 130
    return _report(job, False)
