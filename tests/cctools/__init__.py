"""Test harness (not product): drive real CCTools Work Queue managers and workers."""
