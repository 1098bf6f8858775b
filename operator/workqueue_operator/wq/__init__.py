"""CCTools Work Queue integration: status protocol, catalog, telemetry parsers."""
