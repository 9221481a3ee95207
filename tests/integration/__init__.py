"""Integration tests: the pipeline on a real local Ray against real local servers."""
