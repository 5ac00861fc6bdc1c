"""The version of nexus-connector-core."""

__version__ = "0.1.0"
