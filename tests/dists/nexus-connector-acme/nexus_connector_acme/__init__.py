"""Test plugin offering the email vendor ``acme``."""
