"""The state-backend interface: for plugin authors who keep the shared state elsewhere.

A state backend keeps what every worker of an application must agree on — circuit breakers,
rate limiters, retry budgets, idempotency claims, OAuth tokens, webhook ids, SLO counters,
leases — behind small
atomic operations (`StateBackend`, and its asynchronous twin `AsyncStateBackend`), and
decides by the policies it is handed (`BreakerPolicy`, `LimitPolicy`, `BudgetPolicy`, in a
`GuardPlan`). `MemoryStateBackend` is the embedded one; ``nexus-connector-redis`` the one for
many workers and hosts. Every backend passes
`nexus_connector_core.testing.StateBackendConformance`; a plugin registers its own under
``register_state_backends``.
"""

from __future__ import annotations

from ._resilience.ratelimit import headroom
from ._state import (
    MAX_COUNT_WINDOW,
    MAX_SLO_BUCKETS,
    MAX_TIME_WINDOW,
    MAX_TOKEN_INTERVAL,
    SLO_BATCH_MEMORY,
    Admission,
    AsyncStateBackend,
    BackendSettings,
    BreakerPolicy,
    BreakerSnapshot,
    BudgetPolicy,
    GuardPlan,
    IdempotencyClaim,
    Lease,
    LimiterSnapshot,
    LimitPolicy,
    SloCounts,
    SloQuery,
    StateBackend,
    StoredToken,
    policy_of,
)
from ._state_memory import AsyncMemoryStateBackend, MemoryStateBackend

__all__ = [
    "MAX_COUNT_WINDOW",
    "MAX_TIME_WINDOW",
    "MAX_SLO_BUCKETS",
    "MAX_TOKEN_INTERVAL",
    "SLO_BATCH_MEMORY",
    "Admission",
    "AsyncMemoryStateBackend",
    "AsyncStateBackend",
    "BackendSettings",
    "BreakerPolicy",
    "BreakerSnapshot",
    "BudgetPolicy",
    "GuardPlan",
    "IdempotencyClaim",
    "Lease",
    "LimiterSnapshot",
    "LimitPolicy",
    "MemoryStateBackend",
    "SloCounts",
    "SloQuery",
    "StateBackend",
    "StoredToken",
    "headroom",
    "policy_of",
]
