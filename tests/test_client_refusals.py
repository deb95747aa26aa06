"""What the clients refuse before sending, and the errors they raise instead of httpx's,
asyncio's or pydantic's: every failure of a call is a ``FlightlogError`` that says what to do,
and none quotes a secret."""

from __future__ import annotations

import pytest

from flightlog import ConfigurationError, ValidationError
from flightlog.client import AsyncClient, Client, ServerUnreachable
from flightlog.store import Store
from test_client import client_for

SECRET = "fl_secretpart_0123456789abcdef"


def _quoted(exc: BaseException, value: str) -> bool:
    return value in str(exc) or value in repr(exc)


@pytest.mark.parametrize("key", [SECRET + "\n", SECRET + "\r\n", SECRET + "é", "ключ" + SECRET])
@pytest.mark.parametrize("face", [Client, AsyncClient])
def test_an_api_key_http_cannot_carry_is_refused_when_the_client_is_made(
    key: str, face: type[Client] | type[AsyncClient]
) -> None:
    with pytest.raises(ConfigurationError, match="the API key contains") as refused:
        face("http://127.0.0.1:1", key)
    assert not isinstance(refused.value, ServerUnreachable)
    assert not _quoted(refused.value, SECRET)
    assert refused.value.__cause__ is None
    assert refused.value.__context__ is None


def test_a_base_url_httpx_cannot_parse_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="base URL"):
        Client("http://[::zz]:8000", SECRET)


@pytest.mark.parametrize(
    "content_type", ["text/plain; charset=utf-8\r\nX-Evil: 1", "text/plän", "a\nb"]
)
async def test_a_header_value_of_a_call_that_http_cannot_carry_is_the_callers_error(
    store: Store, content_type: str
) -> None:
    async with client_for(store) as fl:
        task = await fl.tasks.create(title="t")
        with pytest.raises(ValidationError, match="Content-Type header") as refused:
            await fl.artifacts.put(task.id, "a.txt", b"x", content_type=content_type)
        assert not isinstance(refused.value, ServerUnreachable)
        assert not _quoted(refused.value, content_type)
        assert await fl.artifacts.latest(task.id) == []
