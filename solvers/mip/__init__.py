"""The MIP: one solver-independent formulation, one module per OR-Tools backend.

``formulation`` builds the model's data; ``cpsat`` and ``mathopt`` (HiGHS, SCIP)
each state it as ``Variables``, ``Constraints`` and ``Objective``;
``reconstruct`` turns a solution into a plan; ``diagnose`` explains infeasibility.
``optimizer.solve`` is the entry point.
"""
