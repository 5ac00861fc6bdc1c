"""The version of nexus-connector-postmark."""

__version__ = "0.1.0"
