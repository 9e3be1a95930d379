"""One module per CLI command (or small group); each registers on aima.cli.app."""
