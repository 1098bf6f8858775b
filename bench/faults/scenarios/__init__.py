"""One module per scenario; each has a size (its flags' defaults, and a quick one for tests)
and ``run(context, framework, size) -> Row``."""
