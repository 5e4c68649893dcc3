"""Progress of long work on a page: what is being done, steps done / total, time so far.

The collection functions (and so catalog builds) report ``progress(desc, n_done, total)``
from the worker thread (:data:`workbench.data.collect.rollout.Progress`), as the
notebook's tqdm bars show them.  :class:`ProgressView` takes those reports from any thread
(:meth:`sink`) and shows the latest on the event loop (:meth:`show`, called by the page's
:func:`~workbench.ui.state.run_action` tick): a bar and a line.
"""

from __future__ import annotations

import threading
from typing import Any

import panel as pn

from ._format import fmt_seconds

__all__ = ["ProgressView"]


class ProgressView:
    """A progress bar and a line of text for work made of phases of environment steps.

    Args:
        css_classes: CSS classes of the text line (tests find it by them).

    Attributes:
        bar: ``pn.indicators.Progress``; ``text``: ``pn.pane.Markdown``.  Both hidden until
            :meth:`start`.
    """

    def __init__(self, css_classes: tuple[str, ...] = ("wb-progress",)) -> None:
        self.bar = pn.indicators.Progress(value=0, max=1000, visible=False, width=420,
                                          css_classes=["wb-progress-bar"])
        self.text = pn.pane.Markdown("", visible=False, css_classes=list(css_classes))
        self._lock = threading.Lock()
        self._phases: dict[str, tuple[int, int]] = {}  # desc -> (done, total), in order
        self._current = ""
        self._title = ""
        self._total = 0
        self._skip: tuple[str, int] | None = None

    # ------------------------------------------------------------------ any thread
    def start(self, title: str, total: int = 0, skip_unless_first: tuple[str, int] | None = None
              ) -> None:
        """Begin: ``title`` says what is being built; ``total`` is the expected number of
        steps over all phases (0: unknown, the bar follows the current phase).
        ``skip_unless_first=(prefix, steps)``: a first phase whose description starts with
        ``prefix`` may be skipped (found in a cache); then its ``steps`` count as done."""
        with self._lock:
            self._phases, self._current = {}, ""
            self._title, self._total, self._skip = title, int(total), skip_unless_first
        self.bar.value = 0
        self.bar.visible = self.text.visible = True
        self.text.object = f"{title}: starting …"

    def sink(self, desc: str, n_done: int, total: int) -> None:
        """A progress report ``(desc, n_done, total)`` (thread-safe; nothing is drawn)."""
        with self._lock:
            if not self._phases and self._skip is not None and not desc.startswith(
                    self._skip[0]):
                self._phases["(cached) " + self._skip[0]] = (self._skip[1], self._skip[1])
            self._phases[desc] = (int(n_done), int(total))
            self._current = desc

    def state(self) -> dict[str, Any]:
        """``{"phase", "phase_done", "phase_total", "phase_index", "done", "total"}`` of the
        latest report (``phase`` empty before the first)."""
        with self._lock:
            phases = dict(self._phases)
            cur, total = self._current, self._total
        done = sum(d for d, _ in phases.values())
        seen_total = sum(t for _, t in phases.values())
        pd_, pt = phases.get(cur, (0, 0))
        return {"phase": cur, "phase_done": pd_, "phase_total": pt,
                "phase_index": list(phases).index(cur) + 1 if cur in phases else 0,
                "done": done, "total": max(total, seen_total)}

    # ------------------------------------------------------------------ event loop
    def show(self, elapsed: float) -> None:
        """Draw the latest report and the time so far (call on the event loop)."""
        s = self.state()
        if not s["phase"]:
            self.text.object = f"{self._title}: starting … ({fmt_seconds(elapsed)} so far)"
            return
        frac = (s["done"] / s["total"] if self._total and s["total"]
                else s["phase_done"] / max(1, s["phase_total"]))
        self.bar.value = int(1000 * min(1.0, frac))
        line = (f"{self._title} — **{s['phase']}**: {s['phase_done']:,} / "
                f"{s['phase_total']:,} steps")
        if self._total:
            line += f" · all parts: {s['done']:,} / {s['total']:,} steps ({frac:.0%})"
        if s["phase_done"] >= s["phase_total"] and (not self._total or s["done"] >= s["total"]):
            line += " · writing the files"
        self.text.object = line + f" · {fmt_seconds(elapsed)} so far"

    def stop(self) -> None:
        """Hide the bar and the line."""
        self.bar.visible = self.text.visible = False
