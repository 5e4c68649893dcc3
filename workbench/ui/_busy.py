"""A button that shows it is busy the moment it is clicked, before the server hears of it."""

from __future__ import annotations

from typing import Any

import panel as pn

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
        model.js_on_event("button_click", CustomJS(
            args={"button": model, "spinner": config.loading_spinner}, code=_BUSY_JS))
        return model
