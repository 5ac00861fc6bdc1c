"""What a GraphQL document asks for: the type of the operation it runs (query, mutation or
subscription), read with the spec's lexical grammar (ignored tokens, comments, strings and
block strings, punctuators, names) without building a syntax tree. The pipeline needs it
before the call: a query is a read (cacheable, retried), a mutation is not idempotent
unless declared.

    >>> operation_type('mutation Add($n: Int) { add(n: $n) { total } }')
    'mutation'
    >>> operation_type('{ me { name } }')
    'query'
    >>> operation_type('query A { a } mutation B { b }', 'B')
    'mutation'

A document the scanner cannot read (unbalanced brackets, an unterminated string, a type
definition, several operations and no name to choose one) is a `ValueError`: the server
would refuse it too, and nothing is sent.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["MAX_DOCUMENT", "OperationType", "operation_type", "operations"]

OperationType = Literal["query", "mutation", "subscription"]
#: The longest document taken (characters).
MAX_DOCUMENT = 1_000_000

_TOKEN = re.compile(
    r"""
    (?P<ignored>[\s,\ufeff]+|\#[^\n\r]*)
  | (?P<block>\"\"\"(?:\\\"\"\"|(?!\"\"\")[\s\S])*\"\"\")
  | (?P<string>"(?:[^"\\\n\r]|\\.)*")
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
  | (?P<number>-?[0-9][0-9A-Za-z.+-]*)
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$&():=@\[\]{|}])
    """,
    re.VERBOSE,
)
_OPEN = {"{": "}", "(": ")", "[": "]"}
_KINDS: tuple[OperationType, ...] = ("query", "mutation", "subscription")


def _tokens(document: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    while position < len(document):
        match = _TOKEN.match(document, position)
        if match is None:
            raise ValueError(f"the GraphQL document cannot be read at character {position}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "ignored":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def operations(document: str) -> list[tuple[OperationType, str | None]]:
    """The operations a document defines, in order: (type, name or None)."""
    if not isinstance(document, str) or not document.strip():
        raise ValueError("a GraphQL document must be a non-empty string")
    if len(document) > MAX_DOCUMENT:
        raise ValueError(f"a GraphQL document may have at most {MAX_DOCUMENT} characters")
    found: list[tuple[OperationType, str | None]] = []
    closing: list[str] = []
    in_header = False  # between a definition's keyword and its selection set
    tokens = _tokens(document)
    for index, (kind, value) in enumerate(tokens):
        if kind == "punct" and value in _OPEN:
            if not closing and value == "{":
                if not in_header:
                    found.append(("query", None))  # the shorthand: a selection set alone
                in_header = False
            closing.append(_OPEN[value])
        elif kind == "punct" and value in _OPEN.values():
            if not closing or closing.pop() != value:
                raise ValueError(f"the GraphQL document has an unbalanced {value!r}")
        elif not closing and not in_header:
            if kind == "name" and value in _KINDS:
                following = tokens[index + 1] if index + 1 < len(tokens) else None
                name = following[1] if following and following[0] == "name" else None
                found.append((value, name))
                in_header = True
            elif kind == "name" and value == "fragment":
                in_header = True
            else:
                raise ValueError(
                    "a GraphQL document to execute holds operations and fragments only; "
                    f"found {value!r} at the top level"
                )
    if closing or in_header:
        raise ValueError("the GraphQL document ends inside a definition")
    return found


def operation_type(document: str, operation_name: str | None = None) -> OperationType:
    """The type of the operation `document` runs (the one named `operation_name`, which
    the document must then define; the only one when None)."""
    found = operations(document)
    if not found:
        raise ValueError("the GraphQL document defines no operation")
    if operation_name is None:
        if len(found) > 1:
            names = ", ".join(name or "(anonymous)" for _, name in found)
            raise ValueError(
                f"the GraphQL document defines several operations ({names}); pass "
                "operation_name to choose one"
            )
        return found[0][0]
    for kind, name in found:
        if name == operation_name:
            return kind
    names = ", ".join(name for _, name in found if name) or "none with a name"
    raise ValueError(f"the GraphQL document has no operation {operation_name!r}; it has: {names}")
