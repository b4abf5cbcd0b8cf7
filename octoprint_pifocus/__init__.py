"""PiFocus: camera focus for OctoPrint, by hand or automatically.

This module is what OctoPrint loads through the ``octoprint.plugin`` entry point. It imports
nothing from OctoPrint at import time: the plugin class is created in ``__plugin_load__``, so
``import octoprint_pifocus.focus`` (the engine) works in plain Python without OctoPrint.
"""

__version__ = "0.1.0"

__plugin_name__ = "PiFocus"
__plugin_version__ = __version__
__plugin_description__ = (
    "Focus your webcam from OctoPrint: sliders, presets and a fast, noise-robust autofocus for "
    "VCM lenses, V4L2 webcams, camera-streamer and microscopes moved by printer Z."
)
__plugin_author__ = "PiFocus developers"
__plugin_license__ = "AGPL-3.0-or-later"
__plugin_pythoncompat__ = ">=3.9,<4"


def __plugin_check__():
    # Before anything imports OctoPrint 1.9+ modules: on an older OctoPrint, one log line.
    from .compat import check_octoprint

    return check_octoprint()


def __plugin_load__():
    global __plugin_implementation__
    global __plugin_hooks__

    from .plugin.core import PiFocusPlugin

    __plugin_implementation__ = PiFocusPlugin()
    __plugin_hooks__ = __plugin_implementation__.hooks()
