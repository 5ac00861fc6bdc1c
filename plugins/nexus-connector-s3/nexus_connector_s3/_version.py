"""The version of nexus-connector-s3."""

__version__ = "0.1.0"
