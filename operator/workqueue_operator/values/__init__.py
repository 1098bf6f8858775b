"""Plain value types shared by every layer: quantities, worker shapes, task samples."""
