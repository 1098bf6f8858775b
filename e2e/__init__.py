"""End-to-end tooling of workqueue-operator: the local control plane (``e2e/cluster``) and test
harnesses such as the host runner (``e2e.hostrunner``). Nothing here is product code."""
