"""The requests botocore builds for a connector's options, without sending them: where they go
(region, endpoint_url, addressing_style), the region they are signed for, and a session
token carried. The local S3 tests use path addressing on 127.0.0.1 only; these cover the
options that decide what a request to AWS or another S3 host looks like."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from nexus_connector_s3._options import S3Options
from nexus_connector_s3._requests import S3Requests

from nexus_connector_core import AdapterSettings, Secret

KEYS = {
    "access_key_id": Secret("AKIAIOSFODNN7EXAMPLE"),
    "secret_access_key": Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
}


def requests_for(bucket: str = "acme-invoices", credentials: Any = None, **options: Any) -> Any:
    settings = AdapterSettings(
        connector="files",
        category="cloud_storage",
        vendor="s3",
        options=S3Options(bucket=bucket, **options),
        credentials=KEYS if credentials is None else credentials,
    )
    return S3Requests(settings)


def scope(query_or_header: str) -> str:
    """The region a request or URL is signed for (its credential scope)."""
    return query_or_header.split("/")[2]


@pytest.mark.parametrize(
    ("options", "get_url"),
    [
        ({}, "https://acme-invoices.s3.amazonaws.com/a/b%20c.pdf"),
        (
            {"region": "eu-central-1"},
            "https://acme-invoices.s3.eu-central-1.amazonaws.com/a/b%20c.pdf",
        ),
        (
            {"region": "eu-central-1", "addressing_style": "path"},
            "https://s3.eu-central-1.amazonaws.com/acme-invoices/a/b%20c.pdf",
        ),
        (
            {"endpoint_url": "https://objects.example.com", "addressing_style": "virtual"},
            "https://acme-invoices.objects.example.com/a/b%20c.pdf",
        ),
        (
            {"endpoint_url": "https://objects.example.com", "addressing_style": "path"},
            "https://objects.example.com/acme-invoices/a/b%20c.pdf",
        ),
        (
            {"endpoint_url": "http://127.0.0.1:9000"},
            "http://127.0.0.1:9000/acme-invoices/a/b%20c.pdf",
        ),
    ],
    ids=["aws-default", "aws-region", "aws-path", "host-virtual", "host-path", "ip-auto"],
)
def test_requests_go_where_the_options_say_signed_for_the_region(
    options: dict[str, Any], get_url: str
) -> None:
    s3 = requests_for(**options)

    call = s3.call("GetObject", Key="a/b c.pdf")

    assert (call.method, call.url) == ("GET", get_url)
    credential = call.headers["Authorization"].split("Credential=")[1]
    assert scope(credential) == options.get("region", "us-east-1")


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_a_presigned_url_on_aws_names_the_buckets_regional_endpoint(method: str) -> None:
    # botocore's own "auto" presigns on bucket.s3.amazonaws.com, which a bucket outside
    # us-east-1 refuses (SignatureDoesNotMatch or a redirect): the default must not.
    s3 = requests_for(region="eu-central-1")

    url = urlsplit(s3.presign(method, "invoices/42.pdf", 300))

    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "acme-invoices.s3.eu-central-1.amazonaws.com",
        "/invoices/42.pdf",
    )
    query = parse_qs(url.query)
    assert scope(query["X-Amz-Credential"][0]) == "eu-central-1"
    assert query["X-Amz-Expires"] == ["300"]


def test_a_bucket_name_with_dots_is_addressed_by_path_on_aws() -> None:
    # A dotted bucket as a host name would not match S3's wildcard TLS certificate.
    s3 = requests_for(bucket="acme.invoices", region="eu-central-1")

    assert s3.call("GetObject", Key="k").url == (
        "https://s3.eu-central-1.amazonaws.com/acme.invoices/k"
    )
    assert s3.presign("GET", "k", 60).startswith(
        "https://s3.eu-central-1.amazonaws.com/acme.invoices/k?"
    )


def test_a_session_token_is_signed_into_requests_and_presigned_urls() -> None:
    s3 = requests_for(credentials={**KEYS, "session_token": Secret("IQoJb3JpZ2luX2VjEXAMPLE")})

    call = s3.call("HeadObject", Key="k")
    url = urlsplit(s3.presign("GET", "k", 60))

    assert call.headers["X-Amz-Security-Token"] == "IQoJb3JpZ2luX2VjEXAMPLE"
    assert "x-amz-security-token" in call.headers["Authorization"].split("SignedHeaders=")[1]
    assert parse_qs(url.query)["X-Amz-Security-Token"] == ["IQoJb3JpZ2luX2VjEXAMPLE"]
