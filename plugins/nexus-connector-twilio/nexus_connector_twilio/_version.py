"""The version of nexus-connector-twilio."""

__version__ = "0.1.0"
