"""Factories of the built-in credential providers, as the built-in plugin registers them."""

from __future__ import annotations

from ._credentials import CredentialProviderSettings, EnvironmentProvider, FileProvider

__all__ = ["environment_provider", "file_provider"]


def environment_provider(settings: CredentialProviderSettings) -> EnvironmentProvider:
    """``env:NAME`` references, read from the config's environment."""
    return EnvironmentProvider(settings.environ)


def file_provider(settings: CredentialProviderSettings) -> FileProvider:
    """``file:PATH`` references, relative paths from the config file's folder."""
    return FileProvider(settings.config_dir)
