"""End-to-end tests against a real dockerd and registry (see docs/testing.md)."""
