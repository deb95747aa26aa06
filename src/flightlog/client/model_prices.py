"""``client.model_prices``: the model price table computed costs use, read-only over HTTP.

The table is the operator's, one for every customer; its service takes no
customer, so the route is written out rather than bound (``bind`` strips a
customer). Editing it is an operator act the HTTP API does not offer: use
``flightlog prices`` or ``store.model_prices`` on the database.
"""

from __future__ import annotations

from flightlog.client.binding import Exchange, Facade, M, send, written_out
from flightlog.otlp.prices import Origin
from flightlog.schemas.model_prices import ModelPriceOut


class ModelPrices(Facade[M]):
    """``client.model_prices``: list the prices (operator and shipped) in lookup order."""

    @written_out("GET", "/model-prices", why="an operator's table: the service takes no customer")
    @staticmethod
    def list(
        *, model: str | None = None, origin: Origin | None = None
    ) -> Exchange[list[ModelPriceOut]]:
        """Operator prices, then shipped ones, in the order a lookup tries them; ``model``
        keeps the prices that match that model name, ``origin`` one source."""
        return send(
            "GET", "/model-prices", list[ModelPriceOut], params={"model": model, "origin": origin}
        )
