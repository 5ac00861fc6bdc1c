"""The library's loggers: ``nexus_connector`` and its children.

A library adds no handler of its own but one `logging.NullHandler` on its top logger (the
logging HOWTO's advice), so that an application that has not configured logging gets no
stray lines on stderr from Python's last-resort handler. Importing this module adds it, once;
every module that logs takes its logger from `library_logger`, so the handler is there
whichever module logs first (a config warning before any manager exists included).
"""

from __future__ import annotations

import logging

__all__ = ["TOP_LOGGER", "library_logger"]

#: The logger every one of the library's loggers is a child of.
TOP_LOGGER = "nexus_connector"

_top = logging.getLogger(TOP_LOGGER)
if not any(type(handler) is logging.NullHandler for handler in _top.handlers):
    _top.addHandler(logging.NullHandler())


def library_logger(name: str) -> logging.Logger:
    """The logger `name` (``nexus_connector.<part>``), the top logger's handler in place."""
    return logging.getLogger(name)
