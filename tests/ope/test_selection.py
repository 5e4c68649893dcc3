"""ope_selection_metrics on hand-made frames."""

import math

import numpy as np
import pandas as pd
import pytest

from workbench.errors import OPEError
from workbench.ope import ope_selection_metrics


def frame(estimates: dict[str, list[float]], true: list[float]) -> pd.DataFrame:
    rows = []
    for est, vals in estimates.items():
        for i, (v, t) in enumerate(zip(vals, true)):
            rows.append({"policy": f"p{i}", "estimator": est, "estimate": v, "ci_low": v - 1,
                         "ci_high": v + 1, "true_value": t})
    f = pd.DataFrame(rows)
    f.attrs["behavior_value"] = 2.0
    return f


TRUE = [1.0, 4.0, 3.0, 10.0]


def test_hand_computed_metrics():
    f = frame({"x": [2.0, 5.0, 1.0, 6.0]}, TRUE)
    m = ope_selection_metrics(f, ks=(1, 2, 3)).loc["x"]
    err = np.array([1.0, 1.0, -2.0, -4.0])
    assert m.rmse == pytest.approx(math.sqrt(np.mean(err ** 2)))
    assert m.mean_relative_error == pytest.approx(np.mean([1 / 1, 1 / 4, 2 / 3, 4 / 10]))
    assert m.normalized_abs_error == pytest.approx(2.0 / 9.0)
    # ranks by estimate: p3 (6), p1 (5), p0 (2), p2 (1); by truth: p3, p1, p2, p0
    assert m.spearman == pytest.approx(0.8)
    assert m["regret@1"] == 0.0 and m["nregret@1"] == 0.0
    assert math.isnan(m["sharpe@1"])  # std of one value is 0: undefined
    # top-2 true values [10, 4]: population std 3 -> (10 - 2) / 3
    assert m["sharpe@2"] == pytest.approx(8 / 3)
    top3 = np.array([10.0, 4.0, 1.0])
    assert m["sharpe@3"] == pytest.approx((10 - 2) / top3.std(ddof=0))
    # threshold = behaviour value 2: truly bad {p0}; p0 estimated 2 >= 2 -> type I = 1
    # truly good {p1, p2, p3}; p2 estimated 1 < 2 -> type II = 1/3
    assert m.type_i_error == 1.0 and m.type_ii_error == pytest.approx(1 / 3)
    assert m.threshold == 2.0 and m.behavior_value == 2.0


def test_regret_when_best_is_missed():
    f = frame({"y": [10.0, 0.0, 9.0, 1.0]}, TRUE)
    m = ope_selection_metrics(f, ks=(1, 2, 4), threshold=5.0).loc["y"]
    assert m["regret@1"] == pytest.approx(10 - 1)
    assert m["nregret@1"] == pytest.approx(1.0)
    assert m["regret@2"] == pytest.approx(10 - 3)
    assert m["regret@4"] == 0.0
    assert m.spearman == pytest.approx(-0.8)
    assert m.threshold == 5.0
    assert m.type_i_error == pytest.approx(2 / 3) and m.type_ii_error == 1.0


def test_lower_bound_rule_and_k_above_policies():
    f = frame({"x": [2.0, 5.0, 1.0, 6.0]}, TRUE)
    m = ope_selection_metrics(f, ks=(9,), use_lower_bound=True).loc["x"]
    assert math.isnan(m["regret@9"])
    # judged by ci_low = estimate - 1: p0 (1 < 2) now rejected -> type I 0
    assert m.type_i_error == 0.0 and m.type_ii_error == pytest.approx(1 / 3)


def test_several_estimators_one_row_each():
    f = frame({"a": [1, 4, 3, 10], "b": [4, 3, 2, 1]}, TRUE)
    m = ope_selection_metrics(f)
    assert list(m.index) == ["a", "b"] and m.loc["a", "rmse"] == 0.0
    assert m.loc["a", "spearman"] == pytest.approx(1.0)


def test_nan_estimate_warns_and_gives_nan_metrics():
    f = frame({"a": [1, float("nan"), 3, 10]}, TRUE)
    with pytest.warns(RuntimeWarning, match="NaN estimates"):
        m = ope_selection_metrics(f).loc["a"]
    assert math.isnan(m.rmse) and math.isnan(m.spearman)


def test_missing_truth_and_bad_input():
    f = frame({"a": [1, 2, 3, 4]}, TRUE).drop(columns="true_value")
    with pytest.raises(OPEError, match="env="):
        ope_selection_metrics(f)
    f = frame({"a": [1, 2, 3, 4]}, TRUE)
    with pytest.raises(OPEError, match="ks"):
        ope_selection_metrics(f, ks=(0,))
    with pytest.raises(OPEError, match="duplicate"):
        ope_selection_metrics(pd.concat([f, f]))
    g = f.copy()
    g.attrs = {}
    m = ope_selection_metrics(g, ks=(2,)).loc["a"]
    assert math.isnan(m["sharpe@2"]) and math.isnan(m.type_i_error)
