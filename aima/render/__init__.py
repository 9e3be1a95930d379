"""The display layer: everything aima shows people or prints for programs goes through here.

- ``console``: the one way to build a rich console; errors, warnings, tables, JSON, output files.
- ``hardware``: `aima detect`'s table.
- ``plan``: a plan as text, JSON and `docker run` lines (`aima plan`).
- ``progress``: what `up` says while it works (lines, pull bars); implements ``aima.launch.progress.Reporter``.
- ``launch``: the results of `up`, `status` and `down`, as tables and JSON.
- ``doctor``: doctor's checks, one table per group, and their JSON.

Commands only pick the view; the views build the messages. Rich is imported when something is printed.
"""
