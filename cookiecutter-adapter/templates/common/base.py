{%- set C = cookiecutter.__class %}
{%- if cookiecutter.auth_method == "api_key_header" %}


#: The header {{ cookiecutter.vendor_name }} reads the API key from.
#: TODO(vendor): the header its API reference names (and its prefix, if any).
API_KEY_HEADER = "X-API-Key"
{%- elif cookiecutter.auth_method == "oauth2_client_credentials" %}


#: Where {{ cookiecutter.vendor_name }} hands out tokens, below ``base_url`` (``options.token_url``
#: overrides). TODO(vendor): the token endpoint its API reference names, and its scopes.
TOKEN_PATH = "/oauth/token"
{%- endif %}


def _auth(settings: AdapterSettings, options: {{ C }}Options) -> dict[str, Any]:
    """How each request proves who sends it, as `HttpVendor`'s keyword arguments: the
    `httpx.Auth` and the credentials to mask in anything the vendor echoes back."""
{%- if cookiecutter.auth_method == "bearer" %}
    api_key = settings.credentials["api_key"]
    return {"auth": BearerAuth(api_key), "secrets": [api_key]}
{%- elif cookiecutter.auth_method == "api_key_header" %}
    api_key = settings.credentials["api_key"]
    return {"auth": ApiKeyAuth(api_key, header=API_KEY_HEADER), "secrets": [api_key]}
{%- elif cookiecutter.auth_method == "basic" %}
    username, password = settings.credentials["username"], settings.credentials["password"]
    pair = (username.reveal(), password)
    return {"auth": BasicAuth(username, password), "secrets": [username, password], "pairs": [pair]}
{%- elif cookiecutter.auth_method == "oauth2_client_credentials" %}
    # Tokens live in the manager's state backend (shared by every worker), are refreshed
    # before they expire, and once more on a 401; token requests run under the connector's
    # resilience policies.
    secret = settings.credentials["client_secret"]
    grant = OAuth2ClientCredentials.for_adapter(
        settings,
        token_url=options.token_url or options.base_url.rstrip("/") + TOKEN_PATH,
        client_id=settings.secret("client_id"),
        client_secret=secret,
    )
    return {"auth": grant, "secrets": [secret]}
{%- else %}
    del settings, options  # the API takes no credentials
    return {}
{%- endif %}


class _{{ C }}(HttpVendor):
    vendor_name = "{{ cookiecutter.vendor_name }}"
    errors = ERRORS

    def __init__(self, settings: AdapterSettings) -> None:
        self.options: {{ C }}Options = settings.options or {{ C }}Options()
        super().__init__(
            settings,
            base_url=self.options.base_url,
            headers={"Accept": "application/json"},
            timeout=self.options.timeout,
            **_auth(settings, self.options),
        )