"""The version of nexus-connector-starlette."""

__version__ = "0.1.0"
