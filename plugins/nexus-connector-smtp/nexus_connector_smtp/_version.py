"""The version of nexus-connector-smtp."""

__version__ = "0.1.0"
