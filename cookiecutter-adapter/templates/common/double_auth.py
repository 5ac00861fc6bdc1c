{%- set key = cookiecutter.vendor_key.replace('_', '-') %}


#: What an answer of 429 asks to wait, in seconds.
RETRY_AFTER = 2
{%- if cookiecutter.auth_method in ("bearer", "api_key_header") %}
#: The API key the double takes.
API_KEY = "{{ key }}-test-key-5b1d0c7e93aa"
{%- elif cookiecutter.auth_method == "basic" %}
#: The username and password the double takes.
USERNAME = "{{ key }}-test-user"
PASSWORD = "{{ key }}-test-password-5b1d0c7e"
{%- elif cookiecutter.auth_method == "oauth2_client_credentials" %}
#: The client the double's token endpoint knows, and the access token it hands out.
CLIENT_ID = "{{ key }}-test-client"
CLIENT_SECRET = "{{ key }}-test-secret-5b1d0c7e"
ACCESS_TOKEN = "{{ key }}-test-token-93aa0c7e"
#: The token endpoint's path. TODO(vendor): as the vendor's API reference names it.
TOKEN_PATH = "/oauth/token"
{%- endif %}
{%- if cookiecutter.auth_method == "api_key_header" %}
#: The header the API key comes in (lower case). TODO(vendor): as its API reference names it.
API_KEY_HEADER = "x-api-key"
{%- endif %}


def vendor_error(
    status: int, code: str, message: str, *, retry_after: float | None = None
) -> Fault:
    """An error answer in {{ cookiecutter.vendor_name }}'s format: ``{"error": {"code", "message"}}``.

    TODO(vendor): the error body its API reference documents.
    """
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Fault.respond(status, {"error": {"code": code, "message": message}}, headers)


#: How {{ cookiecutter.vendor_name }} refuses credentials it does not accept (the ``auth`` fault of
#: the conformance suite).
{%- if cookiecutter.auth_method == "oauth2_client_credentials" %} A 403: the client answers a 401 by fetching a new
#: token and trying once more, which the double would then accept.
AUTH_REFUSED = vendor_error(403, "forbidden", "The client may not use this API")
{%- else %}
AUTH_REFUSED = vendor_error(401, "unauthorized", "Unknown or missing credentials")
{%- endif %}


def credentials() -> dict[str, str]:
    """The ``credentials`` table of a connector to the double (``literal:`` references:
    test values only)."""
{%- if cookiecutter.auth_method in ("bearer", "api_key_header") %}
    return {"api_key": f"literal:{API_KEY}"}
{%- elif cookiecutter.auth_method == "basic" %}
    return {"username": f"literal:{USERNAME}", "password": f"literal:{PASSWORD}"}
{%- elif cookiecutter.auth_method == "oauth2_client_credentials" %}
    return {"client_id": f"literal:{CLIENT_ID}", "client_secret": f"literal:{CLIENT_SECRET}"}
{%- else %}
    return {}
{%- endif %}


def _credentials_answer(request: ReceivedRequest) -> Fault | None:
    """The answer to a request before the API looks at it: a token from the token endpoint,
    a refusal of wrong credentials, or None to go on."""
{%- if cookiecutter.auth_method == "bearer" %}
    if request.headers.get("authorization") != f"Bearer {API_KEY}":
        return vendor_error(401, "unauthorized", "Unknown or missing API key")
    return None
{%- elif cookiecutter.auth_method == "api_key_header" %}
    if request.headers.get(API_KEY_HEADER) != API_KEY:
        return vendor_error(401, "unauthorized", "Unknown or missing API key")
    return None
{%- elif cookiecutter.auth_method == "basic" %}
    expected = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    if request.headers.get("authorization") != f"Basic {expected}":
        return vendor_error(401, "unauthorized", "Unknown username or password")
    return None
{%- elif cookiecutter.auth_method == "oauth2_client_credentials" %}
    if request.path.partition("?")[0] == TOKEN_PATH:
        client = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = parse_qs(request.body.decode())
        if request.method != "POST" or request.headers.get("authorization") != f"Basic {client}":
            return Fault.respond(401, {"error": "invalid_client"})
        if form.get("grant_type") != ["client_credentials"]:
            return Fault.respond(400, {"error": "unsupported_grant_type"})
        token = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}
        return Fault.respond(200, token)
    if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
        return vendor_error(401, "unauthorized", "Unknown or expired access token")
    return None
{%- else %}
    del request  # the API takes no credentials
    return None
{%- endif %}