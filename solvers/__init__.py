"""Planners on the base of :mod:`optimizer`: the MIP (:mod:`solvers.mip`) and the heuristics.

``solvers`` imports the base of ``optimizer`` (data, performance, pricing) and never its
application layer (``solve``, ``methods``, ``bench``, ``compare``, ``generate``, ``report``,
``cli``), which imports ``solvers``. The ``optimizer`` package re-exports ``solve``, which
imports :mod:`solvers.mip.run`: importing ``optimizer`` first here lets that finish before any
module of ``solvers`` starts, whichever package a program imports first.
"""

import optimizer  # noqa: F401
