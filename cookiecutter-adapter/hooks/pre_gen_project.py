"""Refuses answers that would render a plugin that does not install, import or load, before
anything is written: each problem is said with the answer, what was expected and an example."""

import keyword
import re
import sys

ANSWERS = {
    "category": {{ cookiecutter.category | tojson }},
    "vendor_key": {{ cookiecutter.vendor_key | tojson }},
    "vendor_name": {{ cookiecutter.vendor_name | tojson }},
    "distribution_name": {{ cookiecutter.distribution_name | tojson }},
    "package_name": {{ cookiecutter.package_name | tojson }},
    "author": {{ cookiecutter.author | tojson }},
    "auth_method": {{ cookiecutter.auth_method | tojson }},
}

CATEGORIES = ("sms", "email", "payment", "cloud_storage", "shipping")
AUTH_METHODS = ("bearer", "api_key_header", "basic", "oauth2_client_credentials", "none")
#: Keys the core's own vendors take: a plugin offering one would clash with them.
BUILT_IN = ("memory", "filesystem", "http", "graphql")
#: Text that lands in Python and TOML strings: printable, one line, no quote or backslash.
PLAIN_TEXT = re.compile(r"[^\"\\\x00-\x1f\x7f]{1,80}")


def problems(answers):
    found = []
    key = answers["vendor_key"]
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,40}", key):
        found.append(
            f"vendor_key {key!r}: lowercase letters, digits, '_' or '-', starting with a letter "
            "(at most 41 characters), as a config writes it: vendor = \"acme\""
        )
    elif key in BUILT_IN:
        found.append(f"vendor_key {key!r} is a vendor of the core itself; choose the vendor's name")
    package = answers["package_name"]
    if not package.isidentifier() or keyword.iskeyword(package) or package != package.lower():
        found.append(
            f"package_name {package!r}: a lowercase Python identifier, e.g. nexus_connector_acme"
        )
    distribution = answers["distribution_name"]
    if not re.fullmatch(r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?", distribution):
        found.append(
            f"distribution_name {distribution!r}: a PyPI name in lowercase letters, digits, "
            "'.', '_' or '-', e.g. nexus-connector-acme"
        )
    for field in ("vendor_name", "author"):
        if not PLAIN_TEXT.fullmatch(answers[field]) or not answers[field].strip():
            found.append(
                f"{field} {answers[field]!r}: 1 to 80 printable characters on one line, "
                "without quotes or backslashes"
            )
    if answers["category"] not in CATEGORIES:
        found.append(f"category {answers['category']!r}: one of {', '.join(CATEGORIES)}")
    if answers["auth_method"] not in AUTH_METHODS:
        found.append(f"auth_method {answers['auth_method']!r}: one of {', '.join(AUTH_METHODS)}")
    return found


found = problems(ANSWERS)
if found:
    print("cookiecutter-adapter cannot render these answers:", file=sys.stderr)
    for problem in found:
        print(f"  - {problem}", file=sys.stderr)
    sys.exit(1)
