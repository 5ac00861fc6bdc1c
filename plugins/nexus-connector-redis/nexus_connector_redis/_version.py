"""The version of nexus-connector-redis."""

__version__ = "0.1.0"
