"""The version of nexus-connector-django."""

__version__ = "0.1.0"
