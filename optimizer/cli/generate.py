"""``tenantplan generate``: write a realistic, validated instance (deterministic by seed)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from optimizer.cli import EXIT_OK, print_json, seed
from optimizer.generate import DEFAULT_SYSTEMS, generate_instance, instance_to_compact_json
from optimizer.instance import InstanceError
from optimizer.safe_io import refuse_unsafe_output, write_atomic

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate a realistic instance",
        description="Generate an instance that looks like a provider's book of business: tenants on "
        "the catalog models by popularity, log-normal request rates, chat / reasoning / "
        "summarization / batch shapes and SLOs, isolation, residency, 24-hour demand profiles by "
        "time zone, inventories and site power budgets. The same arguments give the same file.",
    )
    parser.add_argument("--tenants", type=int, required=True, metavar="N", help="number of tenants")
    parser.add_argument("--sites", type=int, default=2, metavar="K", help="number of sites (1-8, default 2)")
    parser.add_argument(
        "--systems",
        default=",".join(DEFAULT_SYSTEMS),
        help=f"comma-separated catalog system ids offered (default {','.join(DEFAULT_SYSTEMS)})",
    )
    parser.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    parser.add_argument("--name", help="instance name (default: the output file's stem)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="output .json file")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix != ".json":
        raise InstanceError([("--output", f"generated instances are written as .json, not '{output.suffix}'")],
                            "command line")
    refuse_unsafe_output("--output", output)
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    try:
        instance = generate_instance(
            args.tenants, sites=args.sites, systems=systems, seed=args.seed, name=args.name or output.stem
        )
    except ValueError as error:
        raise InstanceError([("", str(error))], "command line") from None
    write_atomic(output, instance_to_compact_json(instance))
    summary = {
        "file": str(output),
        "name": instance.name,
        "tenants": len(instance.tenants),
        "sites": [site.name for site in instance.sites],
        "fleet": len(instance.fleet),
        "digest": instance.digest(),
    }
    if args.json:
        print_json(summary)
    else:
        logger.info(
            "wrote %s: %d tenants, %d sites, %d fleet entries", output, len(instance.tenants),
            len(instance.sites), len(instance.fleet),
        )
    return EXIT_OK
