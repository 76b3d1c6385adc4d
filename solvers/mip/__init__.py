"""The MIP: one solver-independent formulation, one module per OR-Tools backend.

``candidates`` chooses the engine configurations each tenant may use; ``formulation``
builds the model's data from them; ``cpsat`` and ``mathopt`` (HiGHS, SCIP)
each state it as ``Variables``, ``Constraints`` and ``Objective`` behind the
types of ``backend``; ``reconstruct`` turns a solution into a plan (and a plan
into a warm start); ``diagnose`` explains infeasibility; ``run`` is what
:func:`optimizer.solve` runs, in phases (``warm_start``, the LP relaxation, LP-guided rounds,
the whole MIP, ``routing``) under the one budget of ``budget``. ``docs/formulation.md``
writes the model out.
"""
