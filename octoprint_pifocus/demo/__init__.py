"""The demo's bundled print: a small part whose bed travels in Y, for follow focus.

:func:`follow_demo_gcode` makes it (``follow-demo.gcode`` next to this module is its output,
which ``scripts/demo.py`` uploads): 20 layers of 0.3 mm, each a 30 x 100 mm outline with three
infill lines along Y, so the bed travels 100 mm in Y all the time and rises 6 mm over the print,
inside the box a demo calibration covers (X 90..130, Y 60..160, Z 0..6). With
``simulation.focus_field`` on, the simulated camera drifts out of focus without a map, and
stays sharp with follow focus on. ``@PIFOCUS`` lines can be put at layer changes
(``layer_command``), which ``bench/follow_printer.py`` uses for "refocus at every layer".
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

#: The bundled file.
FOLLOW_DEMO = Path(__file__).with_name("follow-demo.gcode")


def follow_demo_gcode(layers: int = 20, layer_height: float = 0.3, layer_command: Optional[str] = None) -> str:
    """The demo print as G-code text; ``layer_command`` (e.g. ``@PIFOCUS AUTOFOCUS REFINE``)
    goes after the move to each layer's start."""
    lines = [";FLAVOR:Marlin", ";PiFocus follow-focus demo: Y travel and layer changes", "G21", "G90", "M82",
             "G28", "G92 E0", "G1 Z0.3 F3000"]
    e = 0.0
    for layer in range(1, layers + 1):
        z = round(layer * layer_height, 3)
        lines += [f";LAYER:{layer - 1}", f"G0 F6000 X95 Y60 Z{z}"]
        if layer_command:
            lines.append(layer_command)
        for x, y in ((95, 160), (125, 160), (125, 60), (95, 60)):
            e += 0.5
            lines.append(f"G1 F1800 X{x} Y{y} E{e:.3f}")
        for i, x in enumerate((102.5, 110, 117.5)):
            y = 160 if i % 2 == 0 else 60
            e += 0.4
            lines += [f"G0 F6000 X{x}", f"G1 F1800 Y{y} E{e:.3f}"]
    lines += [f"G1 Z{round(layers * layer_height + 6, 3):g} F600", "M84"]  # lift 6 mm above the top
    return "\n".join(lines) + "\n"



def write_bundled() -> None:
    """Regenerate the bundled file (``python -c "from octoprint_pifocus.demo import write_bundled; write_bundled()"``)."""
    FOLLOW_DEMO.write_text(follow_demo_gcode())
