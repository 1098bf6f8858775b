"""The telemetry agent's HTTP API as both sides speak it: the JSON form of samples (the agent
serves it) and the client the operator reads it with."""
