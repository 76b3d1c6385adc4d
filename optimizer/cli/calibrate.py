"""``tenantplan calibrate``: refit the performance model on your own measured points.

``tenantplan calibrate POINTS.csv... -o calib.json`` reads points in the catalog's InferenceMAX
column schema (``instances/catalog/README.md``), refits the roofline's factors on them together
with the bundled points (``--standalone``: on theirs alone), recomputes the 80% interval bands
from held-out residuals, and writes a calibration file that ``perf --calibration``, ``solve
--calibration`` and an instance's ``calibration`` field use. It prints what it changed. A
provider benchmarks new hardware on one request shape and plans it on all: the system's points
anchor every shape and mode of it (``docs/performance-model.md``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys

from optimizer.catalog import builtin_models, builtin_systems
from optimizer.cli import EXIT_OK, print_json
from optimizer.instance import InstanceError, load_instance
from optimizer.performance.calibrate import calibrate, read_points
from optimizer.safe_io import refuse_unsafe_output, write_atomic

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate", help="refit the performance model on your own measured points",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "points", nargs="*", metavar="POINTS.csv",
        help="measured points (InferenceMAX columns); none: refit on the bundled points alone (the shipped calibration)",
    )
    parser.add_argument("-o", "--output", required=True, metavar="JSON", help="calibration file to write (atomically)")
    parser.add_argument("--standalone", action="store_true", help="fit on these points alone, without the bundled ones")
    parser.add_argument(
        "--instance", metavar="FILE", help="take systems and models from this instance's catalog (inline [[systems]])"
    )
    parser.add_argument("--json", action="store_true", help="print the changes as JSON on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    refuse_unsafe_output("--output", args.output, [*args.points, *([args.instance] if args.instance else [])])
    if args.instance:
        instance = load_instance(args.instance)
        systems, models = instance.system_catalog, instance.model_catalog
    else:
        systems, models = builtin_systems(), builtin_models()
    points = read_points(args.points, systems, models)
    if args.standalone and not points:
        raise InstanceError([("POINTS.csv", "--standalone needs measured points without speculative decoding")])
    logger.info("calibrating on %d points (this refits and re-judges held-out splits: about a minute)", len(points))
    doc, changes = calibrate(points, standalone=args.standalone, models=models, systems=systems)
    doc["made_by"] = " ".join(["tenantplan calibrate", *sys.argv[2:]]) if sys.argv[1:2] == ["calibrate"] else "tenantplan calibrate"
    doc["made_on"] = datetime.date.today().isoformat()
    write_atomic(args.output, json.dumps(doc, indent=1, allow_nan=False) + "\n")
    if args.json:
        print_json({"output": args.output, "changes": changes})
    else:
        for line in changes:
            print(line)
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK
