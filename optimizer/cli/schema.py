"""``tenantplan schema``: the instance file format as JSON Schema, or as markdown tables.

The JSON Schema is ``Instance.model_json_schema()``; the markdown tables (one per
table of the file, every field with its type, default and meaning) are the
reference section of ``docs/instance-format.md``, generated here so the document
cannot drift from the code.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from optimizer.catalog import Model, System
from optimizer.cli import EXIT_OK
from optimizer.instance import Economics, FleetEntry, Instance, Profile, Site, Tenant
from optimizer.safe_io import refuse_unsafe_output, write_atomic

TABLES: tuple[tuple[str, type[BaseModel]], ...] = (
    ("top level", Instance),
    ("[economics]", Economics),
    ("[[sites]]", Site),
    ("[[fleet]]", FleetEntry),
    ("[[tenants]]", Tenant),
    ("[[profiles]]", Profile),
    ("[[systems]]", System),
    ("[[models]]", Model),
)
"""The tables of an instance file, in the order the reference documents them."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the instance file format (JSON Schema)",
        description="Print the JSON Schema of instance files, or with --markdown the field "
        "reference tables of docs/instance-format.md.",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically)")
    parser.add_argument(
        "--markdown", action="store_true", help="field reference tables in markdown instead"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.output:
        refuse_unsafe_output("--output", args.output)
    if args.markdown:
        text = field_tables()
    else:
        text = json.dumps(Instance.model_json_schema(), indent=2) + "\n"
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _type_text(annotation: Any) -> str:
    """A field's type in the words of the file format."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        metadata = annotation.__metadata__
        text = " ".join([_type_text(args[0]), *filter(None, map(_constraint_text, metadata))])
        text = re.sub(r">= (\S+) <= (\S+)", r"from \1 to \2", text)
        non_empty = any(getattr(m, "min_length", None) for m in metadata)
        return f"non-empty {text}" if non_empty else text
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_text(a) for a in args if a is not type(None))
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{json.dumps(a)}`" for a in args)
    if origin is tuple:
        inner = _type_text(args[0])
        return f"array of {'tables' if inner == 'table' else inner}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    return {float: "number", int: "integer", str: "string", bool: "boolean"}[annotation]


def _constraint_text(meta: Any) -> str:
    """A field's bounds, e.g. ``>= 1 <= 4096``, and "no control characters" for a name pattern."""
    parts = []
    for attribute, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        value = getattr(meta, attribute, None)
        if value is not None:
            parts.append(f"{symbol} {value:g}")
    if getattr(meta, "max_length", None) is not None:
        parts.append(f"(at most {meta.max_length:,})")
    if getattr(meta, "pattern", None) is not None:
        parts.append("without control characters")
    for field in getattr(meta, "metadata", ()):  # FieldInfo inside Annotated
        parts.append(_constraint_text(field))
    return " ".join(filter(None, parts))


def _default_text(field: Any) -> str:
    default = field.default
    if default is PydanticUndefined:
        return "required"
    if default is None:
        return "absent"
    if isinstance(default, BaseModel):
        return "defaults"
    if isinstance(default, tuple):
        return "`[]`" if not default else f"`{json.dumps(list(default))}`"
    return f"`{json.dumps(default)}`"


def field_tables() -> str:
    """Markdown: one table per instance-file table, every field with type, default and meaning."""
    parts = []
    for title, model in TABLES:
        parts.append(f"### {title}\n\n{(model.__doc__ or '').strip().splitlines()[0]}\n")
        parts.append("| field | type | default | meaning (unit) |\n|---|---|---|---|")
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if field.metadata:
                annotation = typing.Annotated[(annotation, *field.metadata)]
            description = (field.description or "").replace("|", "\\|")
            parts.append(
                f"| `{name}` | {_type_text(annotation)} | {_default_text(field)} | {description} |"
            )
        parts.append("")
    return "\n".join(parts)
