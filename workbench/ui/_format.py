"""How the pages show numbers and tables: one formatting rule, one table factory.

Every table of the dashboard is made by :func:`table` (read-only, columns sized to their
content, long text wrapped instead of cut) and shows its numbers through
:func:`round_frame`; single values in text go through :func:`fmt_value`.  The rule: at most
:data:`DIGITS` significant digits, whole numbers from 10,000 up, thousands separated in text
(``25.9557399723374`` → ``25.96``; ``123456.7`` → ``123,457``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DIGITS", "round_number", "fmt_value", "fmt_seconds", "round_frame", "table",
           "set_table", "MISSING"]

#: Significant digits shown.
DIGITS = 4

#: What a missing or not-yet-known number shows as.
MISSING = "—"


def round_number(x: float, digits: int = DIGITS) -> float:
    """``x`` rounded to ``digits`` significant digits (to a whole number from 10,000 up);
    NaN and infinities unchanged."""
    x = float(x)
    if not math.isfinite(x) or x == 0.0:
        return x
    if abs(x) >= 10 ** digits:
        return float(round(x))
    return float(f"{x:.{digits}g}")


def fmt_value(v: Any, digits: int = DIGITS) -> str:
    """One value as text: numbers by the rule above (integers and large numbers with
    thousands separators, missing ones as :data:`MISSING`), tuples element-wise, anything
    else as ``str``."""
    if v is None:
        return MISSING
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (Integral, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (Real, np.floating)):
        x = float(v)
        if math.isnan(x):
            return MISSING
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        r = round_number(x, digits)
        if abs(r) >= 10 ** digits:
            return f"{r:,.0f}"
        return f"{r:.{digits}g}"
    if isinstance(v, tuple):
        return "(" + ", ".join(fmt_value(e, digits) for e in v) + ("," if len(v) == 1 else "") + ")"
    return str(v)


def fmt_seconds(seconds: float) -> str:
    """A duration as a person reads it: ``0.4 s``, ``12 s``, ``2 min 05 s``."""
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    m, r = divmod(int(round(s)), 60)
    return f"{m} min {r:02d} s"


def round_frame(frame: pd.DataFrame, digits: int = DIGITS) -> pd.DataFrame:
    """A copy of ``frame`` whose float columns are rounded by :func:`round_number` (they
    stay numbers, so a table still sorts them as numbers)."""
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [round_number(v, digits) for v in out[c].to_numpy(dtype=float)]
    return out


def table(frame: pd.DataFrame | None = None, *, wrap: Iterable[str] = (),
          widths: dict[str, int] | None = None, round_numbers: bool = True,
          css_classes: Sequence[str] = (), **kwargs: Any) -> Any:
    """A read-only ``pn.widgets.Tabulator`` as every page shows one.

    Columns fit their content and the table stretches to the page width (a table wider than
    that scrolls sideways rather than cutting values); the ``wrap`` columns (long text:
    reasons, errors, descriptions) wrap within ``widths[col]`` pixels (default 360) so their
    rows grow instead of hiding text.  Floats are rounded by :func:`round_frame` unless
    ``round_numbers`` is false; set :attr:`value` through :func:`set_table` to keep it so.

    Args:
        frame: the first value (an empty frame by default).
        wrap: columns whose text wraps.
        widths: pixel widths of columns (wrapped columns default to 360).
        round_numbers: round float columns to :data:`DIGITS` significant digits.
        css_classes: CSS classes of the widget (tests and benchmarks find it by them).
        **kwargs: other ``Tabulator`` options (``height``, ``selectable``, ...).
    """
    import panel as pn

    wrap = list(wrap)
    w = {c: 360 for c in wrap}
    w.update(widths or {})
    formatters = {c: {"type": "textarea"} for c in wrap}
    formatters.update(kwargs.pop("formatters", {}))
    opts: dict[str, Any] = {"disabled": True, "show_index": False, "layout": "fit_data_stretch",
                            "sizing_mode": "stretch_width"}
    opts.update(kwargs)
    value = pd.DataFrame() if frame is None else frame
    t = pn.widgets.Tabulator(round_frame(value) if round_numbers else value,
                             formatters=formatters, widths=w,
                             css_classes=["wb-table", *css_classes], **opts)
    t._wb_round = round_numbers  # type: ignore[attr-defined]
    return t


def set_table(widget: Any, frame: pd.DataFrame) -> None:
    """Show ``frame`` in a table made by :func:`table` (numbers rounded likewise)."""
    widget.value = round_frame(frame) if getattr(widget, "_wb_round", True) else frame
