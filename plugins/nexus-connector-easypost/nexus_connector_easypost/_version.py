"""The version of nexus-connector-easypost."""

__version__ = "0.1.0"
