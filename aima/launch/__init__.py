"""Plan -> running containers: convergence, pulls, readiness, log watching, fallback (on aima.engine's adapter).

- ``converge``: the pure decisions: (plan, observed containers) -> create / recreate / start / noop / remove.
- ``images``: local platform check and pulls with progress.
- ``wait`` and ``logwatch``: readiness by health probe, fail-fast on exits and known failure lines.
- ``up``: the executor that carries the decisions out, reporting through ``progress.Reporter``; ``lock`` and
  ``status`` serve the commands. What people see of all this is drawn by ``aima.render``.
"""
