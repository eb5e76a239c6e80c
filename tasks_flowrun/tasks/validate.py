"""Argument checks shared by the tasks: every bad input fails here, before any request."""
import json
import uuid
from typing import Any, Dict, Iterable, List, Optional

from prefect.run_configs import RunConfig


def check_uuid(value: Any, name: str) -> str:
    """
    Check that `value` is a UUID string (the backend's id type).

    Args:
        - value (Any): the argument's value
        - name (str): the argument's name, for the message

    Returns:
        - str: the id, stripped of surrounding whitespace

    Raises:
        - ValueError: if it is not a UUID string
    """
    if not isinstance(value, str):
        raise ValueError(f"`{name}` must be an id string (a UUID); got {type(value).__name__} {value!r}.")
    text = value.strip()
    try:
        uuid.UUID(text)
    except ValueError:
        raise ValueError(f"`{name}` must be a UUID such as '2a6a8ba2-...'; got {value!r}.") from None
    return text


def check_json_object(value: Optional[Dict[str, Any]], name: str) -> Optional[Dict[str, Any]]:
    """
    Check that `value` is `None` or a dict with string keys that JSON can encode exactly.

    Args:
        - value (dict, optional): the argument's value
        - name (str): the argument's name, for the message

    Returns:
        - dict: the same dict (or `None`)

    Raises:
        - TypeError: if it is not a dict, has non-string keys, or holds values JSON cannot
            encode (objects, sets, bytes, NaN/Infinity...)
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"`{name}` must be a dict; got {type(value).__name__}.")
    bad_keys = [k for k in value if not isinstance(k, str)]
    if bad_keys:
        raise TypeError(f"`{name}` keys must be strings; got {bad_keys!r}.")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"`{name}` must be JSON-serializable (it is sent to the backend as JSON): {exc}. "
            "Pass plain values (str, int, float, bool, None, lists and dicts of them)."
        ) from None
    return value


def check_labels(labels: Optional[Iterable[str]]) -> Optional[List[str]]:
    """
    Check labels: an iterable of non-empty strings (not a single string).

    Args:
        - labels (Iterable[str], optional): the labels

    Returns:
        - List[str]: the labels, duplicates removed, order kept (or `None`)

    Raises:
        - TypeError: for a single string, a non-iterable, or non-string items
        - ValueError: for an empty label
    """
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)):
        raise TypeError(f"`labels` must be an iterable of strings, not a single string; use [{labels!r}].")
    try:
        items = list(labels)
    except TypeError:
        raise TypeError(f"`labels` must be an iterable of strings; got {type(labels).__name__}.") from None
    bad = [item for item in items if not isinstance(item, str)]
    if bad:
        raise TypeError(f"`labels` must contain only strings; got {bad!r}.")
    if any(not item.strip() for item in items):
        raise ValueError("`labels` must not contain empty strings.")
    return list(dict.fromkeys(items))


def check_optional_str(value: Any, name: str) -> Optional[str]:
    """
    Check that `value` is `None` or a non-empty string.

    Args:
        - value (Any): the argument's value
        - name (str): the argument's name, for the message

    Returns:
        - str: the value (or `None`)

    Raises:
        - TypeError: if it is not a string
        - ValueError: if it is empty
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string; got {type(value).__name__}.")
    if not value.strip():
        raise ValueError(f"`{name}` must not be empty; omit it to use the default.")
    return value


def serialize_run_config(run_config: Optional[RunConfig]) -> Optional[Dict[str, Any]]:
    """
    Serialize a `RunConfig` for the backend.

    Args:
        - run_config (RunConfig, optional): e.g. `LocalRun(env={...})`

    Returns:
        - dict: the serialized run config (or `None`)

    Raises:
        - TypeError: if it is not a `RunConfig`
    """
    if run_config is None:
        return None
    if not isinstance(run_config, RunConfig):
        raise TypeError(
            "`run_config` must be a prefect RunConfig such as `LocalRun(...)`; "
            f"got {type(run_config).__name__}."
        )
    return run_config.serialize()
