"""A MathOpt solve in a child process, stopped at its deadline even where the solver is not.

HiGHS does not check its time limit in every step of a MIP solve (its root cut rounds,
some heuristics: ERGO-Code/HiGHS issues #885 and #1278), and MathOpt's interrupter
did not reach it either: on medium-02 the whole MIP ran 35 s past a 60 s run's limit. So a
MIP is solved in a child process (this file run as a script) that receives the
serialized protos on its standard input and streams the solver's log lines and then its
result back on its standard output; when the deadline passes the child is killed and
the caller keeps what the log lines told it (the best bound). The child imports OR-Tools
protos and its core solver only, so it starts in about 0.2 s.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from ortools.math_opt import callback_pb2, model_parameters_pb2, model_pb2, parameters_pb2, result_pb2
from ortools.math_opt.core.python import solver as core


def solve_in_process(
    model: model_pb2.ModelProto,
    solver_type: int,
    parameters: parameters_pb2.SolveParametersProto,
    model_parameters: model_parameters_pb2.ModelSolveParametersProto,
    on_lines: Callable[[Sequence[str]], None],
) -> result_pb2.SolveResultProto:
    """MathOpt's result of solving ``model`` here (the child process runs the same)."""
    return core.solve(
        model, solver_type, parameters_pb2.SolverInitializerProto(), parameters, model_parameters, on_lines,
        callback_pb2.CallbackRegistrationProto(), None, None,
    )


def solve_in_child(
    model: model_pb2.ModelProto,
    solver_type: int,
    parameters: parameters_pb2.SolveParametersProto,
    model_parameters: model_parameters_pb2.ModelSolveParametersProto,
    on_lines: Callable[[Sequence[str]], None],
    deadline: float,
) -> result_pb2.SolveResultProto | None:
    """MathOpt's result of solving ``model``, or None when the solve was killed at ``deadline``
    (a ``time.perf_counter()`` value). ``on_lines`` receives the solver's log lines as they come."""
    request = (model.SerializeToString(), solver_type, parameters.SerializeToString(),
               model_parameters.SerializeToString())
    child = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    messages: queue.Queue[tuple[str, object]] = queue.Queue()
    reader = threading.Thread(target=_read, args=(child.stdout, messages), daemon=True)
    reader.start()
    try:
        assert child.stdin is not None
        pickle.dump(request, child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        child.stdin.close()
        while True:
            try:
                kind, payload = messages.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                return None
            if kind == "lines":
                on_lines(payload)  # type: ignore[arg-type]
            elif kind == "result":
                return result_pb2.SolveResultProto.FromString(payload)  # type: ignore[arg-type]
            else:
                raise RuntimeError(f"the solver's child process stopped without a result: {payload}")
    finally:
        child.kill()
        child.wait()


def _read(stream, messages: queue.Queue) -> None:  # type: ignore[no-untyped-def]
    """Forward the child's messages to ``messages`` until it ends."""
    try:
        while True:
            messages.put(pickle.load(stream))
    except EOFError:
        messages.put(("ended", "end of output"))
    except (pickle.UnpicklingError, OSError) as error:
        messages.put(("ended", repr(error)))


def _child() -> None:
    """Solve the request on standard input; write log lines, then the result, to standard output.

    The child stays quiet when the run is stopped: Ctrl-C is the parent's to handle (it kills
    the child), SIGTERM ends it silently, and a parent gone mid-solve ends it without a word.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a KeyboardInterrupt in a C++ callback aborts noisily
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    model, solver_type, parameters, model_parameters = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer

    def send(kind: str, payload: object) -> None:
        try:
            pickle.dump((kind, payload), out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
        except BrokenPipeError:
            os._exit(0)

    result = solve_in_process(
        model_pb2.ModelProto.FromString(model), solver_type, parameters_pb2.SolveParametersProto.FromString(parameters),
        model_parameters_pb2.ModelSolveParametersProto.FromString(model_parameters),
        lambda lines: send("lines", list(lines)),
    )
    send("result", result.SerializeToString())


if __name__ == "__main__":
    _child()
