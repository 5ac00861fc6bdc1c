"""The embedded vendors: ``memory`` for every category and ``filesystem`` for cloud_storage.

They run with no account and no server, so a new user, a test suite or a demo can use the
whole library at once; they are also the reference adapters for plugin authors.
"""
