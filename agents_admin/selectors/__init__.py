"""Reads: querysets with their joins and pagination baked in, one module per topic."""
