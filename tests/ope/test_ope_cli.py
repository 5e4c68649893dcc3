"""``workbench ope`` (stand-alone entry point and the add_parser/run hooks)."""

import argparse
import io
import json

import pandas as pd
import pytest

from ope_helpers import sample_chain
from workbench.ope import cli


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from workbench._d3rlpy import d3rlpy

    d = tmp_path_factory.mktemp("ope_cli")
    ds = sample_chain(200, seed=0)
    path = d / "chain.npz"
    ds.save(path, format="npz")
    algo = d3rlpy.algos.DQNConfig().create(device="cpu:0")
    algo.build_with_dataset(ds.to_d3rlpy())
    algo.save(str(d / "dqn.d3"))
    return path, d / "dqn.d3"


def test_csv_and_json(files, capsys):
    data, model = files
    assert cli.main([str(data), "-p", f"dqn={model}", "-e", "wis,pdis", "--gamma", "0.9",
                     "--n-bootstrap", "50", "--format", "csv"]) == 0
    from io import StringIO

    frame = pd.read_csv(StringIO(capsys.readouterr().out))
    assert list(frame.estimator) == ["wis", "pdis"] and frame.ci_low.notna().all()
    assert cli.main([str(data), "-p", f"dqn={model}", "-e", "wis", "--format", "json",
                     "--n-bootstrap", "0"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["estimates"][0]["policy"] == "dqn" and "behavior_value" in doc["attrs"]


def test_table_via_add_parser(files):
    data, model = files
    parser = argparse.ArgumentParser(prog="workbench")
    sub = parser.add_subparsers(dest="cmd")
    cli.add_parser(sub)
    args = parser.parse_args(["ope", str(data), "--policy", f"a={model}", "-e", "is",
                              "--n-bootstrap", "10"])
    out = io.StringIO()
    assert args.func(args, out=out) == 0
    assert "estimate" in out.getvalue() and " is " in out.getvalue()


def test_errors_exit_2(files, capsys):
    data, model = files
    assert cli.main([str(data), "-p", "no-equals-sign", "-e", "wis"]) == 2
    assert "NAME=SOURCE" in capsys.readouterr().err
    assert cli.main([str(data), "-p", f"a={model}", "-e", "magic"]) == 2
    assert "unknown OPE estimator" in capsys.readouterr().err
    assert cli.main([str(data), "-p", f"a={model}", "--gamma", "2"]) == 2
