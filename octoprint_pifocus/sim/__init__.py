"""Simulated focus hardware: a VCM lens, a defocusing camera, and a real-stack camera.

Used by the tests, the benchmarks and the demo, so the whole product can be tried and
measured with no hardware. Nothing here imports OctoPrint.
"""
from .camera import SimulatedCamera, StackCamera, disc_blur
from .focus_field import FocusField, bed_camera_field, microscope_field
from .lens import SimulatedLens
from .occluder import Occluder
from .scene import dim_scene, draw_scene

__all__ = ["SimulatedCamera", "StackCamera", "SimulatedLens", "disc_blur", "draw_scene", "dim_scene", "Occluder",
           "FocusField", "bed_camera_field", "microscope_field"]
