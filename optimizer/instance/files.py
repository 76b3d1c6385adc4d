"""Reading and validating instance files: TOML or JSON, bounded in size and nesting, every
problem reported at once as ``path: reason`` through :class:`InstanceError` (field errors in
the words of the file format, cross-reference errors beside them).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .model import Instance
from .references import InstanceError, cross_reference_problems, did_you_mean, unknown_reason

MAX_FILE_BYTES = 16 * 2**20
"""Instance files above this size are refused before parsing (16 MiB; a thousand tenants
with hourly profiles over a week take 1.1 MiB of TOML)."""

# -- field errors, in words -------------------------------------------------------------


_PYDANTIC_REASONS = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "finite_number": "must be a finite number",
    "missing": "is required",
    "too_short": "must have at least {min_length} entries",
    "string_too_short": "must not be empty",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be a string",
    "tuple_type": "must be an array",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "bool_type": "must be true or false",
    "too_long": "must have at most {max_length} entries",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "must not contain control characters",
}


def _format_loc(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at the table that holds ``loc`` (for suggestions)."""
    owner: type[BaseModel] = Instance
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        annotation = owner.model_fields[part].annotation
        nested = [a for a in getattr(annotation, "__args__", (annotation,)) if a is not Ellipsis]
        owner = next((a for a in nested if isinstance(a, type) and issubclass(a, BaseModel)), owner)
    return list(owner.model_fields)


def _reason(detail: Mapping[str, Any]) -> str:
    """One pydantic error in the words of the file format."""
    kind = detail["type"]
    loc = tuple(detail["loc"])
    if kind == "extra_forbidden":
        return "unknown key" + did_you_mean(str(loc[-1]), _known_keys(loc))
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", detail["ctx"]["expected"]) or [detail["ctx"]["expected"]]
        given = detail["input"]
        hint = did_you_mean(given, expected) if isinstance(given, str) else ""
        return f"must be one of {', '.join(expected)}{hint}"
    if kind == "value_error":
        return str(detail["ctx"]["error"])
    if kind in ("int_type", "float_type") and isinstance(detail["input"], bool | str):
        what = "an integer" if kind == "int_type" else "a number"
        return f"must be {what}, not {'a boolean' if isinstance(detail['input'], bool) else 'a string'}"
    if kind == "int_type" and isinstance(detail["input"], float):
        return "must be a whole number (an integer)"
    if kind == "too_short" and detail["ctx"]["min_length"] == 1:
        return "must not be empty"
    if kind in _PYDANTIC_REASONS:
        ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in detail.get("ctx", {}).items()}
        return _PYDANTIC_REASONS[kind].format(**ctx)
    return str(detail["msg"])


def parse_instance(data: Mapping[str, Any], source: str = "") -> Instance:
    """Validate ``data`` (parsed TOML or JSON) as an :class:`Instance`.

    Field errors and cross-reference errors are reported together: when fields
    fail, the cross-reference checks still run on the raw document (they skip
    values that failed their own field checks).

    Raises:
        InstanceError: every problem found, each with its path and reason.
    """
    if not isinstance(data, Mapping):
        raise InstanceError([("", "the document must be a table (a JSON object)")], source)
    try:
        return Instance.model_validate(data)
    except InstanceError as error:
        raise InstanceError(error.problems, source) from None
    except ValidationError as error:
        problems = field_problems(error)
    raise InstanceError(problems + cross_reference_problems(data), source)


def field_problems(error: ValidationError) -> list[tuple[str, str]]:
    """Pydantic's errors as ``(path, reason)`` pairs in the words of the file format."""
    return [
        (_format_loc(tuple(d["loc"])), _reason(d))
        for d in error.errors(include_url=False)
        if not _counts_failed_items(d)
    ]


def _counts_failed_items(detail: Mapping[str, Any]) -> bool:
    """A "too short" error that pydantic raises only because items failed (reported already)."""
    given = detail["input"]
    return (
        detail["type"] == "too_short"
        and isinstance(given, list | tuple)
        and len(given) >= detail["ctx"]["min_length"]
    )


MAX_NESTING = 8
"""Arrays and tables nested deeper than this are refused (plans need 6, instances 4)."""


def _nesting_depth(document: Any) -> int:
    """How many arrays and tables are nested in ``document`` at most (without recursion)."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:
            stack.extend((child, depth + 1) for child in children)
    return deepest


_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _decode(text: str, suffix: str) -> Any:
    """Parse TOML or JSON text; syntax errors name the line and column, deep nesting is refused."""
    too_deep = InstanceError([("", f"arrays and tables nested deeper than {MAX_NESTING} levels")])
    try:
        document = _parse(text, suffix)
    except RecursionError:
        raise too_deep from None
    if _nesting_depth(document) > MAX_NESTING:
        raise too_deep
    return document


def _parse(text: str, suffix: str) -> Any:
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            message = str(error)
            where = _SYNTAX_POSITION.search(message)
            if where is None:
                reason = f"TOML syntax error: {message}"
            else:
                line, column = where.groups()
                reason = (
                    f"TOML syntax error at line {line}, column {column}: "
                    f"{message[: where.start()]}"
                )
            raise InstanceError([("", reason)]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        reason = f"JSON syntax error at line {error.lineno}, column {error.colno}: {error.msg}"
        raise InstanceError([("", reason)]) from None


def read_document(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON file (by extension) into a dict, refusing huge files.

    Raises:
        InstanceError: unreadable file, unknown extension, over
            :data:`MAX_FILE_BYTES`, or a syntax error (with line and column).
    """
    path = Path(path)
    source = str(path)
    if path.suffix not in (".toml", ".json"):
        raise InstanceError([("", f"unknown file type '{path.suffix}': use .toml or .json")], source)
    too_large = InstanceError(
        [("", f"file is larger than the {MAX_FILE_BYTES // 2**20} MiB limit for instance files")],
        source,
    )
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise too_large
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows or is a pipe
        if len(raw) > MAX_FILE_BYTES:
            raise too_large
        text = raw.decode("utf-8")
    except OSError as error:
        raise InstanceError([("", f"cannot read file: {error.strerror or error}")], source) from None
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        reason = f"not UTF-8 text: byte 0x{raw[error.start]:02x} on line {line}"
        raise InstanceError([("", reason)], source) from None
    try:
        return _decode(text, path.suffix)
    except InstanceError as error:
        raise InstanceError(error.problems, source) from None


def bundled_example(name: str) -> Path:
    """Path of an example shipped with the package, e.g. ``"enterprise-mix.toml"``.

    Raises:
        InstanceError: no bundled example has that name (the message lists them).
    """
    folder = resources.files("optimizer.instances").joinpath("examples")
    path = Path(str(folder.joinpath(name)))
    if not path.is_file():
        names = sorted(p.name for p in Path(str(folder)).iterdir())
        reason = f"{unknown_reason('example', name, names)} (bundled: {', '.join(names)})"
        raise InstanceError([("", reason)])
    return path


def load_instance(path: str | Path) -> Instance:
    """Read and validate an instance file (``.toml`` or ``.json``).

    Raises:
        InstanceError: every problem found, each as ``path: reason``.
    """
    doc = read_document(path)
    if isinstance(doc, dict) and isinstance(doc.get("calibration"), str) and not Path(doc["calibration"]).is_absolute():
        doc["calibration"] = str(Path(path).parent / doc["calibration"])
    return parse_instance(doc, str(path))
