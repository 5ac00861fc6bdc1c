{%- if cookiecutter.auth_method == "bearer" %}
from nexus_connector_core.auth import BearerAuth
{%- elif cookiecutter.auth_method == "api_key_header" %}
from nexus_connector_core.auth import ApiKeyAuth
{%- elif cookiecutter.auth_method == "basic" %}
from nexus_connector_core.auth import BasicAuth
{%- elif cookiecutter.auth_method == "oauth2_client_credentials" %}
from nexus_connector_core.auth import OAuth2ClientCredentials
{%- endif %}