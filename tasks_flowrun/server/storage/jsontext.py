"""JSON text in and out of the backend: strict on input, forgiving on stored values.

JSON has no NaN or Infinity, but Python's `json` module writes them (and Prefect's client
uses it), so input refuses them by name. Stored text may still hold them (old rows, rows
written by other tools): reading such a value never fails the request; the bad number
becomes null and undecodable text becomes null, with a warning in the backend log.
"""
import json
import logging
import math
from typing import Any, Optional

logger = logging.getLogger("tasks_flowrun.server")

MAX_NESTING = 64  # objects/arrays inside each other in one input value


class JsonInputError(ValueError):
    """Input JSON the backend refuses; the message says why."""


def _refuse_constant(name: str) -> Any:
    raise JsonInputError(f"non-finite number {name} is not valid JSON; send a finite number or null")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonInputError(f"number {text[:40]} is too large (not a finite double)")
    return value


def loads_input(text: Any) -> Any:
    """Decode request JSON: NaN, Infinity and numbers that overflow are refused, as is
    nesting past `MAX_NESTING` (JsonInputError, a ValueError)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise JsonInputError(f"JSON nested too deeply (the limit is {MAX_NESTING} levels)") from None
    check_nesting(value)
    return value


def check_nesting(value: Any, limit: int = MAX_NESTING) -> None:
    """JsonInputError if `value` nests objects/arrays deeper than `limit` or holds a
    non-finite float anywhere (iterative walk: no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                raise JsonInputError(f"non-finite number {item!r} is not valid JSON; send a finite number or null")
            continue
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise JsonInputError(f"JSON nested too deeply (the limit is {limit} levels)")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, float)))


def has_lone_surrogate(value: Any) -> bool:
    """True if a string (key or value) anywhere in `value` holds a lone UTF-16 surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _finite_or_none(text: str) -> Optional[float]:
    value = float(text)
    return value if math.isfinite(value) else None


def loads_stored(text: Any, where: str = "a JSON column") -> Any:
    """Decode stored JSON text: non-finite numbers become null, undecodable text becomes null."""

    def replaced(name: str) -> None:
        logger.warning("Non-finite number %s in %s replaced by null", name, where)

    try:
        return json.loads(text, parse_constant=replaced, parse_float=_finite_or_none)
    except (ValueError, TypeError, RecursionError) as exc:
        logger.warning("Undecodable JSON in %s replaced by null: %s", where, exc)
        return None
