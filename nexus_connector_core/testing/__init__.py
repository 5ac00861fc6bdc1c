"""Test kit for applications and plugin authors: fake clock, and (as they land) conformance
suites and a fault-injecting HTTP server.

Nothing here is imported by the library itself.
"""

from ._clock import FakeClock

__all__ = ["FakeClock"]
