"""`aima doctor`: observations gathered once (``doctor``), checks as functions of them (``check_*``, ``deep``),
run apart so none hides another (``checks``). The signatures it matches live in the leaf package ``aima.knowledge``;
the report is drawn by ``aima.render.doctor``."""
