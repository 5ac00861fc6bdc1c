"""The resilience policies: pure decision logic, and the pipeline steps that apply it.

The decision modules (`backoff`, `breaker`, `ratelimit`, `budget`) do no I/O and read no
clock: time comes in as an argument. The memory state backend uses them directly; the Redis
backend implements the same rules in Lua, and the conformance suite holds both to them.
"""
