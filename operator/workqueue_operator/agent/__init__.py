"""The telemetry agent: follows a Work Queue manager's logs and status, serves what tasks used.

It runs beside a manager (same pod or host), tails the transactions log and/or
resource_monitor summaries, polls the manager's status port, and serves Prometheus
``/metrics`` plus a JSON window of recent samples per category (``/v1/samples``) that the
operator reads to size worker buckets. See docs/telemetry.md.
"""
