"""The CLI commands as plain functions, one module per command or small group; aima.cli registers them."""
