"""diagnose / DiagnosticsReport / diagnose_many / behaviour entropy / CLI."""

from __future__ import annotations

import argparse
import io
import json
import math

import numpy as np
import pandas as pd
import pytest

import workbench.diagnostics as D
from _factory import episodes_dataset, random_continuous
from workbench.diagnostics import cli
from workbench.errors import DiagnosticsError, WorkbenchError


def test_diagnose_with_reference_hand_computed(hand_dataset, hand_reference):
    rep = D.diagnose(hand_dataset, hand_reference, random_return=0.0, expert_return=4.0, bins=5)
    # finished returns 1 and 3 -> mean 2 -> TQ 0.5; SACo 3/5 (see test_diag_coverage)
    assert rep.tq == pytest.approx(0.5)
    assert rep.saco == pytest.approx(0.6)
    assert rep.lsaco == pytest.approx(math.log(3) / math.log(5))
    assert rep.counts == {"unique_pairs": 3, "unique_states": 3, "unique_actions": 2,
                          "ref_unique_pairs": 5, "ref_unique_states": 5,
                          "ref_unique_actions": 2, "outside_pairs": 1}
    assert rep["outside_fraction"] == pytest.approx(0.2)
    assert (rep["terminated"], rep["truncated"], rep["unfinished"]) == (1, 1, 0)
    assert rep["tq_source"] == "given" and rep["reference"] == "ref"
    assert any("outside the reference limits" in n for n in rep.notes)
    a = rep.actions
    assert a["counts"] == [3, 2]
    p = np.array([0.6, 0.4])
    assert a["entropy"] == pytest.approx(-(p * np.log(p)).sum())
    assert a["entropy_normalised"] == pytest.approx(-(p * np.log(p)).sum() / np.log(2))


def test_report_exports_and_display(hand_dataset, hand_reference):
    rep = D.diagnose(hand_dataset, hand_reference, 0.0, 4.0, bins=5)
    f = rep.to_frame()
    assert len(f) == 1 and f.columns[0] == "dataset" and f.loc[0, "dataset"] == "hand"
    for col in ("tq", "saco", "lsaco", "state_coverage", "action_coverage", "return_psv",
                "return_q25", "length_mean", "reward_sparsity", "action_entropy", "outside_pairs"):
        assert col in f.columns
    html = rep._repr_html_()
    assert "SACo" in html and "TQ" in html and "outside the reference limits" in html
    text = str(rep)
    assert "SACo" in text and "0.6" in text
    data = json.loads(rep.to_json())
    assert data["metrics"]["saco"] == pytest.approx(0.6) and data["dataset"] == "hand"
    assert "DiagnosticsReport(" in repr(rep)


def test_without_references_reports_unnormalised_counts_and_says_so():
    ds = random_continuous(600)
    rep = D.diagnose(ds)
    assert rep.tq is None and rep.saco is None and rep.lsaco is None
    assert rep["unique_pairs"] == 600 and rep["ref_unique_pairs"] is None
    notes = " ".join(rep.notes)
    assert "unnormalised" in notes and "TQ not computed" in notes
    assert "unnormalised" in rep._repr_html_()
    assert math.isnan(json.loads(rep.to_json())["metrics"]["action_std_mean"] * 0) is False


def test_tq_references_from_metadata():
    ds = episodes_dataset([([0, 1], [0], [3], "terminated")], n_actions=2,
                          metadata={"random_return": 1.0, "expert_return": 5.0})
    rep = D.diagnose(ds, False)
    assert rep.tq == pytest.approx(0.5) and rep["tq_source"] == "dataset metadata"


def test_diagnose_bad_input(hand_dataset, hand_reference):
    with pytest.raises(DiagnosticsError, match="both"):
        D.diagnose(hand_dataset, hand_reference, random_return=1.0)
    with pytest.raises(DiagnosticsError, match="equals"):
        D.diagnose(hand_dataset, hand_reference, 1.0, 1.0)
    with pytest.raises(DiagnosticsError, match="bins"):
        D.diagnose(hand_dataset, hand_reference, bins=1)
    with pytest.raises(DiagnosticsError, match="EpisodeDataset"):
        D.diagnose(42)
    with pytest.raises(WorkbenchError):
        D.diagnose(hand_dataset, "/nonexistent/dataset.npz")


def test_unfinished_only_dataset_gets_a_note_not_an_error():
    ds = episodes_dataset([([0, 1, 2], [0, 1], [1, 1], None)], n_actions=2)
    rep = D.diagnose(ds, random_return=0.0, expert_return=1.0)
    assert rep.tq is None
    assert any("no episode finished" in n for n in rep.notes)


def test_diagnose_many_is_one_tidy_frame(hand_dataset, hand_reference):
    frame = D.diagnose_many({"data": hand_dataset, "replay": hand_reference}, reference="replay",
                            random_return=0.0, expert_return=4.0, bins=5)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["dataset"]) == ["data", "replay"]
    assert list(frame["saco"]) == pytest.approx([0.6, 1.0])
    assert list(frame["tq"]) == pytest.approx([0.5, 1.25])
    seq = D.diagnose_many([hand_dataset], reference=hand_reference, bins=5)
    assert list(seq["dataset"]) == ["hand"]
    with pytest.raises(DiagnosticsError):
        D.diagnose_many({})


def test_behavior_entropy_discrete_ranks_random_above_deterministic():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(1201, 2)).astype(np.float32)
    det = (obs[:-1, 0] > 0).astype(np.int64)
    rnd = rng.integers(0, 2, 1200)
    mk = lambda a: episodes_dataset([(obs, a, np.zeros(1200), "truncated")], n_actions=2)
    h_det, unit = D.behavior_entropy(mk(det), epochs=8, max_samples=1200)
    h_rnd, _ = D.behavior_entropy(mk(rnd), epochs=8, max_samples=1200)
    assert unit == "normalised"
    assert 0 <= h_det < h_rnd <= 1
    assert h_rnd > 0.8 and h_det < 0.6


def test_behavior_entropy_continuous_and_in_diagnose():
    ds = random_continuous(800, obs_dim=3, act_dim=2)
    h, unit = D.behavior_entropy(ds, epochs=2, max_samples=500)
    assert unit == "nats/dim" and np.isfinite(h)
    # uniform on [-1, 1] has differential entropy log 2 = 0.69 nats; a Gaussian fit is close
    assert 0.4 < h < 1.2
    rep = D.diagnose(ds, behavior_entropy=True)
    assert rep["behavior_entropy_unit"] == "nats/dim"
    with pytest.raises(DiagnosticsError):
        D.behavior_entropy(ds, epochs=0)


# ------------------------------------------------------------------------ CLI
def _ns(path, **kw):
    base = {"path": str(path), "reference": None, "json": False, "bins": 100}
    base.update(kw)
    return argparse.Namespace(**base)


def test_cli_run_text_and_json(tmp_path, hand_dataset, hand_reference):
    p = hand_dataset.save(tmp_path / "hand.npz")
    r = hand_reference.save(tmp_path / "ref.npz")
    out = io.StringIO()
    assert cli.run(_ns(p, reference=str(r), bins=5), out=out) == 0
    assert "SACo" in out.getvalue() and "0.6" in out.getvalue()
    out = io.StringIO()
    cli.run(_ns(p, reference=str(r), bins=5, json=True, random_return=0.0, expert_return=4.0),
            out=out)
    data = json.loads(out.getvalue())
    assert data["metrics"]["saco"] == pytest.approx(0.6)
    assert data["metrics"]["tq"] == pytest.approx(0.5)


def test_cli_parser_and_main(tmp_path, hand_dataset, capsys):
    sub = argparse.ArgumentParser().add_subparsers()
    p = cli.add_parser(sub)
    args = p.parse_args(["x.npz", "--reference", "r.npz", "--json", "--bins", "7"])
    assert (args.path, args.reference, args.json, args.bins, args.func) == \
        ("x.npz", "r.npz", True, 7, cli.run)
    path = hand_dataset.save(tmp_path / "hand.npz")
    assert cli.main([str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["saco"] is None
    assert cli.main([str(tmp_path / "missing.npz")]) == 2
    assert "error:" in capsys.readouterr().err
    assert cli.main([str(path), "--bins", "1"]) == 2
