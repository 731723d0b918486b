"""Evidence: sources, the snapshot writer and the notebook-side loader."""
