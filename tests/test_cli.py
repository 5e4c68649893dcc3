"""The `workbench` command, run as a user runs it (the installed entry point, in a subprocess)."""

import json
import subprocess

import workbench as wb
from _factory import make_dataset
from _servers import WORKBENCH


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WORKBENCH, *args], capture_output=True, text=True, timeout=300)


def test_info_and_convert(tmp_path):
    src = make_dataset(60).save(tmp_path / "x.npz")
    out = run("info", str(src), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["episodes"] == 3 and summary["transitions"] == 60
    out = run("convert", str(src), str(tmp_path / "x_minari"), "--format", "minari")
    assert out.returncode == 0, out.stderr
    assert wb.load_dataset(tmp_path / "x_minari").equals(make_dataset(60))
    assert out.stderr == "", "no banners or log lines on stderr"


def test_bad_file_is_a_clear_error_not_a_traceback(tmp_path):
    bad = tmp_path / "broken.hdf5"
    bad.write_bytes(b"definitely not hdf5")
    out = run("info", str(bad))
    assert out.returncode == 2
    assert "workbench: error:" in out.stderr and str(bad) in out.stderr
    assert "Traceback" not in out.stderr


def test_catalog_lists_names():
    out = run("catalog", "--json")
    assert out.returncode == 0, out.stderr
    names = {row["name"] for row in json.loads(out.stdout)}
    assert {"cartpole-random", "cartpole-replay", "cartpole-expert", "cartpole-noisy",
            "cartpole-mixed", "pendulum-replay"} <= names


def test_collect_command(tmp_path):
    out = run("collect", "CartPole-v1", "--policy", "random", "--steps", "300", "--seed", "3",
              "--out", str(tmp_path / "c.parquet"))
    assert out.returncode == 0, out.stderr
    ds = wb.load_dataset(tmp_path / "c.parquet")
    assert ds.metadata["env_id"] == "CartPole-v1" and ds.n_transitions > 0


# `workbench serve` (loopback, websocket origin, basic auth, the pages) is tested in tests/ui.
