"""Domain services: one module per aggregate, async, explicit sessions.

Every service function takes the ``Session`` first and flushes; it never
commits. The caller owns the transaction, so the Store, the CLI and tests can
compose several calls into one atomic unit.
"""
