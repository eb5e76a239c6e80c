"""One logging setup for `tasks-flowrun server` and `tasks-flowrun agent`.

One handler on standard error, in Prefect's log format (Prefect's `logging.format` and
`logging.datefmt` settings, as its own loggers use), for the loggers these commands write
to: `tasks_flowrun.*`, uvicorn's, and the agent's own (named after the agent). Standard
output stays for what the commands print (the server's start line, flow logs shown by the
agent). The loggers stop propagating to the root logger, so nothing is printed twice.
"""
import logging
import sys
from typing import Iterable, Optional, TextIO

PACKAGE_LOGGER = "tasks_flowrun"
ACCESS_LOGGER = "uvicorn.access"


def prefect_formatter() -> logging.Formatter:
    """A formatter with Prefect's configured `logging.format` and `logging.datefmt`."""
    import prefect

    return logging.Formatter(prefect.config.logging.format, prefect.config.logging.datefmt)


def configure_logging(level: str, access_log: bool = False, loggers: Iterable[str] = (),
                      stream: Optional[TextIO] = None) -> logging.Handler:
    """Send the commands' logs, from `level` up, to one handler (standard error by default).

    Args:
        - level (str): DEBUG, INFO, WARNING, ERROR or CRITICAL
        - access_log (bool): also log one line per HTTP request (uvicorn's access log)
        - loggers (Iterable[str]): more loggers to handle the same way (e.g. the agent's)
        - stream (TextIO, optional): where to write (default: standard error)

    Returns:
        - logging.Handler: the handler, for callers that want to remove it again
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(prefect_formatter())
    numeric = logging.getLevelName(level.upper())
    # uvicorn says at INFO what the start line already says; its warnings and errors always show
    uvicorn_level = numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
    levels = {PACKAGE_LOGGER: numeric, "uvicorn": uvicorn_level, "uvicorn.error": uvicorn_level,
              **{name: numeric for name in loggers}}
    for name, logger_level in levels.items():
        _attach(logging.getLogger(name), handler, logger_level)
    access = logging.getLogger(ACCESS_LOGGER)
    access.handlers = [h for h in access.handlers if not getattr(h, "tasks_flowrun", False)]
    if access_log:  # every request at INFO, whatever the level of the rest
        _attach(access, handler, logging.INFO)
    else:
        access.setLevel(logging.WARNING)
        access.propagate = False
    return handler


def _attach(logger: logging.Logger, handler: logging.Handler, level: int) -> None:
    # a previous setup's handler is replaced, not doubled
    logger.handlers = [h for h in logger.handlers if not getattr(h, "tasks_flowrun", False)]
    handler.tasks_flowrun = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
