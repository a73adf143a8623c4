"""The reconstruction model (LRM) and its parts, with the released checkpoint layout."""

from real3d.models.loading import ModelSource, load, locate
from real3d.models.lrm import LRM

__all__ = ["LRM", "ModelSource", "load", "locate"]
