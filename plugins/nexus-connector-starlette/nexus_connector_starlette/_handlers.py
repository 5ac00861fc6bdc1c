"""`install`: the exception handlers that answer our errors with problem details."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nexus_connector_core import ConnectorError

from ._problems import CONTENT_TYPE, problem_for

__all__ = ["install", "problem_response"]

logger = logging.getLogger("nexus_connector_starlette")


def install(app: Starlette, *, unexpected: bool = True) -> None:
    """Answer every `ConnectorError` an endpoint lets through with problem details (RFC 9457,
    ``application/problem+json``; the table is in the README): a vendor outage is a 503 with
    ``Retry-After``, not a bare 500.

    >>> app = FastAPI(lifespan=lifespan("connectors.toml"))     # doctest: +SKIP
    >>> install(app)                                             # doctest: +SKIP

    With `unexpected` (the default), any other exception is answered with a 500 problem
    without details too, unless the app already has a handler for ``Exception`` or 500 (the
    server still logs the error, and Starlette's debug page still shows in ``debug`` mode).
    Each answer is logged on the ``nexus_connector_starlette`` logger: a 500 as an error
    with its traceback, another 5xx as a warning, a 4xx at info level.
    """
    app.add_exception_handler(ConnectorError, _answer)
    handled = set(app.exception_handlers)
    if unexpected and not handled & {Exception, 500}:
        app.add_exception_handler(Exception, _answer)


def problem_response(error: BaseException) -> Response:
    """The problem details answer to `error`, for an endpoint or handler of your own."""
    problem = problem_for(error)
    return JSONResponse(
        problem.body, problem.status, headers=problem.headers, media_type=CONTENT_TYPE
    )


async def _answer(request: Request, error: Exception) -> Response:
    response = problem_response(error)
    where = f"{request.method} {request.url.path}"
    if response.status_code == 500:
        logger.error("%s failed: %r", where, error, exc_info=error)
    elif response.status_code >= 500:
        logger.warning("%s answered %d: %s", where, response.status_code, error)
    else:
        logger.info("%s answered %d: %s", where, response.status_code, error)
    return response
