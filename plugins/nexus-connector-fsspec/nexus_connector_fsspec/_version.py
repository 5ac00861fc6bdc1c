"""The version of nexus-connector-fsspec."""

__version__ = "0.1.0"
