"""A button that shows it is busy the moment it is clicked, before the server hears of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import panel as pn
import param

__all__ = ["BusyButton"]

#: Runs in the browser on a click: Panel's loading spinner on the button at once, before the
#: click reaches the server (the server clears it when the action ends: ``run_action``,
#: ``settle``).  ``button`` is the button's model (``cb_obj`` is the click event).  The class
#: goes on the button's element only: changing the model's ``css_classes`` would make Bokeh
#: lay the whole page out again first (about 0.3 s on the Training page, measured).
_BUSY_JS = """
const view = cb_context.index.find_one(button);
if (view != null) {
  view.el.classList.add('pn-loading', 'pn-' + spinner);
}
"""


#: Runs in the browser when the server says the click needed no work after all
#: (:meth:`BusyButton.settle`): the spinner goes, again without a relayout.
_SETTLE_JS = """
const view = cb_context.index.find_one(button);
if (view != null) {
  view.el.classList.remove('pn-loading', 'pn-' + spinner);
}
"""

_SETTLED = "wb-settled-"


class BusyButton(pn.widgets.Button):
    """``pn.widgets.Button`` whose click shows Panel's loading spinner within a frame.

    The callback is attached to every Bokeh model the button renders, when it is rendered:
    a page built after the session started (a tab opened later) gets it as well, which a
    Panel ``js_on_click`` link does not (links are resolved when the root is rendered).
    A click on a loaded machine (training jobs running) is acknowledged at once;
    :func:`workbench.ui.state.run_action` (or :func:`~workbench.ui.state.settle`) takes the
    spinner away.
    """

    def _get_model(self, doc: Any, root: Any = None, parent: Any = None,
                   comm: Any = None) -> Any:
        from bokeh.models import CustomJS
        from panel.config import config

        model = super()._get_model(doc, root, parent, comm)
        args = {"button": model, "spinner": config.loading_spinner}
        model.js_on_event("button_click", CustomJS(args=args, code=_BUSY_JS))
        model.js_on_change("tags", CustomJS(args=args, code=_SETTLE_JS))
        return model

    #: Bumped by :meth:`settle`; reaches the browser as the model's ``tags`` (through
    #: Panel, which holds the document lock a direct model change would need).
    settled = param.Integer(default=0, precedence=-1, doc="settle() calls so far")

    _rename: ClassVar[Mapping[str, str | None]] = {**pn.widgets.Button._rename,
                                                   "settled": "tags"}

    def _process_param_change(self, params: dict[str, Any]) -> dict[str, Any]:
        props = super()._process_param_change(params)
        if "tags" in props:
            props["tags"] = [f"{_SETTLED}{props['tags']}"]
        return props

    def settle(self) -> None:
        """Take the spinner of a click that started no work away (a refused input).

        Only the element's class goes: toggling ``loading`` instead changes the model's
        ``css_classes`` twice, and each change makes Bokeh lay the page out again (a
        refusal message then took 0.3-0.6 s to show on a loaded page, measured).  The
        signal is a change of the model's ``tags``, which nothing lays out."""
        self.settled += 1
