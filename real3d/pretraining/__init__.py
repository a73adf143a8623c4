"""Pretraining in miniature on the mini study's domain images (issue 17): the image encoder, the CLIP-like model."""
