"""Single-image inference: input preprocessing, background removal, export of meshes and videos."""
