"""Single-image inference: the one demo pipeline (run.py, web app), preprocessing, texture baking, export."""
