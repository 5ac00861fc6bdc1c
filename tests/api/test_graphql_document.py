"""The GraphQL document scanner: the type of the operation a document runs, read past
comments, strings and block strings, without a syntax tree."""

from __future__ import annotations

import pytest

from nexus_connector_core._graphql_document import operation_type, operations


@pytest.mark.parametrize(
    ("document", "name", "expected"),
    [
        ("{ me { name } }", None, "query"),
        ("query { me }", None, "query"),
        ("mutation Add($n: Int = 1) { add(n: $n) }", None, "mutation"),
        ("subscription Ticks { ticks }", None, "subscription"),
        ("query A { a } mutation B { b }", "B", "mutation"),
        ("query A { a } mutation B { b }", "A", "query"),
        ("fragment F on T { x } mutation M { m { ...F } }", None, "mutation"),
        ('# mutation { x }\nquery Q { a(s: "mutation {") }', None, "query"),
        ('query Q { a(s: """ } mutation \\""" { """) }', None, "query"),
        ("\ufeff,,query Q @live { a }", None, "query"),
    ],
)
def test_the_operation_type_is_read_from_the_document(
    document: str, name: str | None, expected: str
) -> None:
    assert operation_type(document, name) == expected


@pytest.mark.parametrize(
    ("document", "name", "says"),
    [
        ("", None, "non-empty"),
        ("{ a ", None, "ends inside"),
        ("{ a }}", None, "unbalanced"),
        ("type T { a: Int }", None, "operations and fragments only"),
        ('{ a(s: "open) }', None, "cannot be read"),
        ("query A { a } query B { b }", None, "operation_name"),
        ("query A { a }", "B", "no operation 'B'"),
        ("fragment F on T { a }", None, "defines no operation"),
    ],
)
def test_a_document_that_cannot_be_run_is_refused(
    document: str, name: str | None, says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        operation_type(document, name)


def test_every_operation_is_listed_in_order() -> None:
    document = "query A { a } { b } mutation { c }"
    assert operations(document) == [("query", "A"), ("query", None), ("mutation", None)]
