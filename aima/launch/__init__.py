"""Plan -> running containers: convergence, the Docker adapter, pulls, readiness, log watching, fallback.

- ``model``: what a container should be (ContainerSpec, from an EnginePlan) and what is observed.
- ``converge``: the pure decisions: (plan, observed containers) -> create / recreate / start / noop / remove.
- ``docker_engine``: the ``ContainerEngine`` Protocol's real implementation on the docker SDK.
- ``images``: local platform check and pulls with progress.
- ``wait`` and ``logwatch``: readiness by health probe, fail-fast on exits and known failure lines.
- ``up``: the executor that carries the decisions out, reporting through ``progress.Reporter``; ``lock`` and
  ``status`` serve the commands. What people see of all this is drawn by ``aima.render``.
"""
