"""Automatic curation of in-the-wild photos into single-view training data (SPEC §7).

Stages, in the order they run on each image: `quality` (readable, minimum resolution) →
`foreground` (mask file, alpha channel or rembg) → `geometry` (size, area, truncation, one dominant
object, aspect ratio) → `quality` (blur, exposure) → `model` (cycle-consistency score of the current
model, batched). `real3d.curation.pipeline.curate` runs them and writes the curated dataset.
"""
