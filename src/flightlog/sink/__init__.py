"""The columnar telemetry sink: committed events, agent runs, task runs and metric points
copied into ClickHouse tables (chdb in-process, or a ClickHouse server) for the
dashboard's heavy aggregates. docs/sink.md tells how to run it; decision 0018 why
it is built so.

Nothing here is imported by ``import flightlog``: the backends' libraries (chdb with
pyarrow and pandas, clickhouse-connect) are the optional ``sink`` extra and load only
when a sink is used.
"""
