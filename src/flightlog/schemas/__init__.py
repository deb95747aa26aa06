"""The HTTP API's wire models, one module per resource.

Request bodies forbid unknown fields, so a typo is a 422 rather than a value
quietly ignored; responses list their fields rather than mirroring the
tables, so a new column does not silently become public API. The server
(:mod:`flightlog.api`) and the client (:mod:`flightlog.client`) both import
them from here; this package imports neither, only the services' input
models, enums, limits and errors. Field types shared by the resources are in
:mod:`flightlog.schemas.fields`.
"""
