"""The version of nexus-connector-stripe."""

__version__ = "0.1.0"
