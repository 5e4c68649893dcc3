"""User interface: pure plot functions (``plots``) and Panel components (``app``).

Importing this package is cheap; Panel and HoloViews load when a submodule is used.
"""
