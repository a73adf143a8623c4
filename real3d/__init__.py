"""Real3D: single-image 3D reconstruction with self-training on real-world images."""

__version__ = "0.1.0"
