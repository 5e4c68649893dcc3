"""The `workbench` command, run as a user runs it (the installed entry point, in a subprocess)."""

import json
import subprocess

import pytest

import workbench as wb
from _factory import make_dataset
from _servers import WORKBENCH, served, wait_http


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


def test_serve_answers_on_loopback_and_stops_by_pid():
    with served() as (url, proc):
        status, body = wait_http(url + "/")
        assert status == 200
        assert "workbench" in body.lower()
        assert url.startswith("http://127.0.0.1:")
    assert proc.poll() is not None


def _ws_handshake(url: str, body: str, origin: str) -> int:
    """Open Bokeh's websocket like the page's JavaScript does; return the HTTP status."""
    import re

    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    token = re.search(r'"token":\s*"([^"]+)"', body).group(1)
    try:
        with connect(url.replace("http://", "ws://") + "/ws", origin=origin,
                     subprotocols=["bokeh", token], open_timeout=20):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_serve_refuses_foreign_websocket_origin():
    with served() as (url, proc):
        _, body = wait_http(url + "/")
        port = url.rsplit(":", 1)[1]
        assert _ws_handshake(url, body, f"http://127.0.0.1:{port}") == 101
        assert _ws_handshake(url, body, "http://evil.example.com") == 403
