"""Telemetry samples, bucketing strategies and the trace replay that scores them."""
