"""Datasets in their distributed on-disk formats, preprocessing, the training datamodule and the
synthetic data generator's library code."""
