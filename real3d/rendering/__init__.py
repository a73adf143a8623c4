"""Renders built from the model's reconstruct-and-render steps: the orbit and the cycle re-render."""

from real3d.rendering.cycle import CycleRender, cycle_cameras, cycle_render, grey_composite, to_model_input
from real3d.rendering.orbit import render_orbit

__all__ = ["CycleRender", "cycle_cameras", "cycle_render", "grey_composite", "render_orbit", "to_model_input"]
