"""Model prices (issue 12, item 4): the lookup rule, the cost arithmetic, the operator's edits.

The rule and the arithmetic are checked on tables built in memory; the
operator's rows on both dialects, through the services, the Store, the HTTP
client and the CLI as a user runs it. Bad input is a typed error and leaves
the table as it was.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cli_runner import Cli, make_cli, one_sentence, url_of
from flightlog import NotFound, ValidationError
from flightlog.db.urls import DatabaseUrl
from flightlog.models.otlp import ModelPrice
from flightlog.otlp.prices import (
    Price,
    PriceTable,
    cost,
    load_price_table,
    normalize_model,
    shipped_prices,
)
from flightlog.services import model_prices
from flightlog.services.model_prices import ALWAYS
from flightlog.store import Store
from test_client import client_for

D = Decimal
JAN = datetime(2025, 1, 1, tzinfo=UTC)
JUN = datetime(2025, 6, 1, tzinfo=UTC)
NOW = datetime(2025, 12, 1, tzinfo=UTC)


def _price(
    model: str,
    input_price: str,
    *,
    prefix: bool = False,
    since: datetime = JAN,
    origin: str = "shipped",
    cached: str | None = None,
) -> Price:
    return Price(
        model=model,
        is_prefix=prefix,
        input_usd_per_mtok=D(input_price),
        output_usd_per_mtok=D(input_price) * 4,
        cached_input_usd_per_mtok=None if cached is None else D(cached),
        effective_from=since,
        origin="operator" if origin == "operator" else "shipped",
    )


def _input(table: PriceTable, model: str, at: datetime = NOW) -> Decimal | None:
    price = table.lookup(model, at)
    return None if price is None else price.input_usd_per_mtok


# --- the lookup rule ---------------------------------------------------------------------------


def test_exact_beats_prefix_and_the_longest_prefix_wins() -> None:
    table = PriceTable(
        [
            _price("gpt-4o", "2.5", prefix=True),
            _price("gpt-4o-mini", "0.15", prefix=True),
            _price("gpt-4o-2024-05-13", "5"),
            _price("gpt-4o-2024-05-13", "9", prefix=True),
        ]
    )
    assert _input(table, "gpt-4o") == D("2.5")
    assert _input(table, "gpt-4o-2024-11-20") == D("2.5")
    assert _input(table, "gpt-4o-mini-2024-07-18") == D("0.15")
    assert _input(table, "gpt-4o-2024-05-13") == D("5")  # exact, though a longer prefix matches
    assert _input(table, "gpt-4o-2024-05-13-x") == D("9")
    assert _input(table, "gpt-4") is None  # a prefix matches longer names only, not shorter
    assert _input(table, "claude-3-opus") is None


def test_the_latest_price_in_effect_at_the_time_applies() -> None:
    table = PriceTable(
        [
            _price("o3", "10", prefix=True, since=JAN),
            _price("o3", "2", prefix=True, since=JUN),
            _price("o3-mini", "1.1", prefix=True, since=JUN),
        ]
    )
    assert _input(table, "o3-2025-04-16", JAN) == D("10")  # from the instant it starts
    assert _input(table, "o3-2025-04-16", JUN - timedelta(microseconds=1)) == D("10")
    assert _input(table, "o3-2025-04-16", JUN) == D("2")
    assert _input(table, "o3", JAN - timedelta(days=1)) is None  # before any price
    # The most specific pattern has no price yet: the next one applies.
    assert _input(table, "o3-mini", JAN) == D("10")
    assert _input(table, "o3-mini", NOW) == D("1.1")
    with pytest.raises(ValidationError, match="timezone-aware"):
        table.lookup("o3", datetime(2025, 1, 1))


def test_operator_prices_beat_shipped_ones_whatever_their_shape() -> None:
    shipped = [_price("gpt-4o", "2.5", prefix=True), _price("gpt-4o-mini", "0.15", prefix=True)]
    operator = [_price("gpt-4o", "1", prefix=True, origin="operator", since=JUN)]
    table = PriceTable([*shipped, *operator])
    assert _input(table, "gpt-4o-mini") == D("1")  # the operator's shorter prefix wins
    found = table.lookup("gpt-4o-mini", NOW)
    assert found is not None
    assert found.origin == "operator"
    # Before the operator's price takes effect, the shipped ones apply as usual.
    assert _input(table, "gpt-4o-mini", JAN) == D("0.15")
    assert _input(table, "claude-3-opus") is None


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("GPT-4o", "gpt-4o"),
        ("  gpt-4o-mini \n", "gpt-4o-mini"),
        ("openai/gpt-4o", "gpt-4o"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("openrouter/anthropic/claude-sonnet-4", "claude-sonnet-4"),
        ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "llama-3.3-70b-instruct-turbo"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet-20241022-v2:0"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4-20250514-v1:0"),
        ("o3", "o3"),
    ],
)
def test_names_are_compared_case_insensitively_without_a_provider_prefix(
    name: str, normal: str
) -> None:
    assert normalize_model(name) == normal


def test_case_and_provider_prefixes_find_the_price() -> None:
    table = PriceTable([_price("gpt-4o", "2.5", prefix=True), _price("gemini-2.5-pro", "1.25")])
    assert _input(table, "OpenAI/GPT-4o-2024-08-06") == D("2.5")
    assert _input(table, "models/Gemini-2.5-Pro") == D("1.25")
    assert _input(table, "") is None
    assert _input(table, "openai/") is None


# --- the cost ----------------------------------------------------------------------------------


def test_cost_charges_cached_input_at_the_cached_price() -> None:
    price = _price("m", "2.5", cached="1.25")  # output 10
    # 600 uncached at 2.5, 400 cached at 1.25, 500 output at 10: (1500 + 500 + 5000) / 1e6
    assert cost(price, 1000, 500, 400) == D("0.007000")
    assert cost(price, 1000, 500) == D("0.007500")
    assert cost(price, 0, 0) == D("0.000000")
    # No cached price: cached input costs the input price.
    assert cost(_price("m", "2.5"), 1000, 500, 400) == D("0.007500")
    # More cached than input (counted apart): all cached, no uncached input.
    assert cost(price, 100, 0, 400) == D("0.000500")
    assert cost(price, 10**9, 10**9, 0) == D("12500.000000")


def test_cost_is_rounded_half_up_to_six_decimals() -> None:
    price = _price("m", "0.5")  # output 2
    assert cost(price, 1, 0) == D("0.000001")  # 0.0000005 rounds up
    assert cost(price, 3, 0) == D("0.000002")  # 0.0000015
    assert cost(price, 0, 1) == D("0.000002")
    assert cost(price, 1, 0).as_tuple().exponent == -6


@pytest.mark.parametrize(
    "tokens", [(-1, 0, 0), (0, -1, 0), (0, 0, -1), (1.5, 0, 0), (True, 0, 0), ("3", 0, 0)]
)
def test_negative_or_non_integer_token_counts_are_refused(tokens: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError, match="non-negative integer"):
        cost(_price("m", "1"), *tokens)  # type: ignore[arg-type]


def test_an_estimate_says_it_was_computed_and_from_which_price() -> None:
    table = PriceTable([_price("gpt-4o", "2.5", prefix=True, cached="1.25")])
    estimate = table.estimate("gpt-4o-2024-08-06", NOW, 1000, 500, 400)
    assert estimate is not None
    assert estimate.usd == D("0.007000")
    assert estimate.describe() == {
        "cost_source": "computed",
        "price_model": "gpt-4o",
        "price_is_prefix": True,
        "price_origin": "shipped",
        "price_effective_from": JAN.isoformat(),
    }
    assert table.estimate("unknown-model", NOW, 1, 1) is None


# --- the shipped table -------------------------------------------------------------------------


def test_the_shipped_table_says_where_each_price_is_from() -> None:
    prices = shipped_prices()
    assert len(prices) >= 40
    keys = [(p.model, p.is_prefix, p.effective_from) for p in prices]
    assert len(keys) == len(set(keys))
    for price in prices:
        assert price.origin == "shipped"
        assert price.id is None
        assert " as known 20" in (price.note or ""), price.model
        assert price.effective_from.tzinfo is not None
        assert price.model == normalize_model(price.model)
        assert price.input_usd_per_mtok > 0
        assert price.output_usd_per_mtok > 0
    table = PriceTable(prices)
    for model, input_price in [
        ("gpt-4o-mini-2024-07-18", "0.15"),
        ("gpt-4.1-mini-2025-04-14", "0.40"),
        ("claude-sonnet-4-5-20250929", "3.00"),
        ("claude-opus-4-5-20251101", "5.00"),
        ("claude-opus-4-1-20250805", "15.00"),
        ("models/gemini-2.5-flash", "0.30"),
        ("mistral-large-latest", "2.00"),
    ]:
        assert _input(table, model) == D(input_price), model
    assert _input(table, "o3-2025-04-16", datetime(2025, 5, 1, tzinfo=UTC)) == D("10.00")
    assert _input(table, "o3-2025-04-16", datetime(2025, 7, 1, tzinfo=UTC)) == D("2.00")


# --- the operator's rows, on both dialects ---------------------------------------------------


def _rows(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ModelPrice)) or 0)


def test_the_operator_sets_replaces_and_deletes_prices(session: Session) -> None:
    shipped = load_price_table(session)
    assert len(shipped) == len(shipped_prices())
    set_ = model_prices.set_price(
        session,
        model="OpenAI/GPT-4o",
        is_prefix=True,
        input_usd_per_mtok=D("2"),
        output_usd_per_mtok=8.5,
        cached_input_usd_per_mtok="0.5",  # type: ignore[arg-type]
        note="negotiated",
    )
    assert (set_.model, set_.origin, set_.effective_from) == ("gpt-4o", "operator", ALWAYS)
    assert set_.output_usd_per_mtok == D("8.5")
    assert set_.id is not None
    table = load_price_table(session)
    assert _input(table, "gpt-4o-mini-2024-07-18") == D("2")  # the operator's prefix wins
    assert load_price_table(session) is table  # unchanged rows: the same table, not rebuilt

    again = model_prices.set_price(
        session, model="gpt-4o", is_prefix=True, input_usd_per_mtok=3, output_usd_per_mtok=9
    )
    assert again.id == set_.id
    assert _rows(session) == 1
    assert again.cached_input_usd_per_mtok is None
    assert again.note is None
    later = model_prices.set_price(
        session,
        model="gpt-4o",
        is_prefix=True,
        input_usd_per_mtok=1,
        output_usd_per_mtok=4,
        effective_from=datetime(2026, 1, 1, 1, tzinfo=UTC),
    )
    assert _rows(session) == 2
    table = load_price_table(session)
    assert _input(table, "gpt-4o", NOW) == D("3")
    assert _input(table, "gpt-4o", datetime(2026, 2, 1, tzinfo=UTC)) == D("1")

    listed = model_prices.list_prices(session, model="gpt-4o-2024-08-06")
    assert [(p.origin, p.model) for p in listed[:2]] == [("operator", "gpt-4o")] * 2
    assert [p.effective_from for p in listed[:2]] == [ALWAYS, later.effective_from]
    assert {p.origin for p in listed[2:]} == {"shipped"}
    assert model_prices.list_prices(session, origin="operator") == listed[:2]
    assert model_prices.list_prices(session, model="  ") == []

    deleted = model_prices.delete_price(session, later.id)  # type: ignore[arg-type]
    assert deleted.id == later.id
    assert model_prices.delete_price(session, set_.id).id == set_.id
    assert _rows(session) == 0
    assert _input(load_price_table(session), "gpt-4o-mini") == D("0.15")  # shipped again
    with pytest.raises(NotFound):
        model_prices.delete_price(session, set_.id)


BAD_SETS: list[tuple[dict[str, object], str]] = [
    ({"input_usd_per_mtok": -1}, "between 0 and"),
    ({"output_usd_per_mtok": D("NaN")}, "between 0 and"),
    ({"output_usd_per_mtok": float("inf")}, "between 0 and"),
    ({"cached_input_usd_per_mtok": "-0.1"}, "between 0 and"),
    ({"input_usd_per_mtok": "1e9"}, "between 0 and"),
    ({"input_usd_per_mtok": "0.0000001"}, "more than 6 decimals"),
    ({"input_usd_per_mtok": "two"}, "must be a number"),
    ({"input_usd_per_mtok": True}, "must be a number"),
    ({"model": ""}, "1 to 200 characters"),
    ({"model": "openai/"}, "1 to 200 characters"),
    ({"model": "m" * 201}, "1 to 200 characters"),
    ({"model": 42}, "must be text"),
    ({"is_prefix": "yes"}, "is_prefix"),
    ({"effective_from": datetime(2025, 1, 1)}, "timezone-aware"),
    ({"effective_from": "2025-01-01"}, "timezone-aware"),
    ({"note": "x" * 501}, "at most 500"),
]


@pytest.mark.parametrize(("change", "message"), BAD_SETS)
def test_bad_prices_are_refused_and_change_nothing(
    session: Session, change: dict[str, object], message: str
) -> None:
    model_prices.set_price(session, model="kept", input_usd_per_mtok=1, output_usd_per_mtok=2)
    values: dict[str, object] = {
        "model": "kept",
        "input_usd_per_mtok": 5,
        "output_usd_per_mtok": 6,
    } | change
    with pytest.raises(ValidationError, match=message):
        model_prices.set_price(session, **values)  # type: ignore[arg-type]
    [kept] = model_prices.list_prices(session, origin="operator")
    assert (kept.model, kept.input_usd_per_mtok, kept.output_usd_per_mtok) == ("kept", D(1), D(2))


def test_a_price_file_is_set_all_or_none(session: Session) -> None:
    good = {"model": "acme-1", "input": "1", "output": "2", "note": "ours"}
    dated = {**good, "is_prefix": True, "effective_from": "2025-06-01T00:00:00Z", "input": 3}
    with pytest.raises(ValidationError, match=r"price #3: .*input"):
        model_prices.set_prices(session, [good, dated, {**good, "input": -1}])
    with pytest.raises(ValidationError, match=r"price #1: .*effective_from"):
        model_prices.set_prices(session, [{**good, "effective_from": "2025-06-01"}])
    with pytest.raises(ValidationError, match="price #1: note"):
        model_prices.set_prices(session, [{**good, "note": "n" * 501}])
    # A key the file format does not have (cached for cached_input) would be lost: refused.
    with pytest.raises(ValidationError, match=r"price #2: unknown key 'cached'"):
        model_prices.set_prices(session, [good, {**good, "model": "typo", "cached": "0.1"}])
    with pytest.raises(ValidationError, match=r"price #3: the same model.*as price #1"):
        model_prices.set_prices(session, [good, dated, {**good, "input": 9}])
    with pytest.raises(ValidationError, match=r"with a zone, e.g. .*got 2025-06-01T00:00:00$"):
        model_prices.set_prices(session, [{**good, "effective_from": "2025-06-01"}])
    assert _rows(session) == 0
    stored = model_prices.set_prices(session, [good, dated])
    assert [(p.model, p.is_prefix, p.input_usd_per_mtok) for p in stored] == [
        ("acme-1", False, D(1)),
        ("acme-1", True, D(3)),
    ]
    assert _input(load_price_table(session), "acme-1-large") == D("3")


def test_bad_ids_are_typed_errors(session: Session) -> None:
    with pytest.raises(NotFound):
        model_prices.delete_price(session, uuid.uuid4())
    with pytest.raises(ValidationError, match="UUID"):
        model_prices.delete_price(session, "not-an-id")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="origin"):
        model_prices.list_prices(session, origin="mine")  # type: ignore[arg-type]


async def test_the_store_edits_and_the_client_reads_the_table(store: Store) -> None:
    price = await store.model_prices.set(
        model="acme-large", input_usd_per_mtok=D("1.5"), output_usd_per_mtok=D("6")
    )
    [mine] = await store.model_prices.list(origin="operator")
    assert mine == price
    async with store.reader() as s:  # as ingest calls it: inside the async Store's run_sync
        table = await s.run_sync(load_price_table)
    assert _input(table, "acme/ACME-large") == D("1.5")
    async with client_for(store) as fl:
        listed = await fl.model_prices.list(model="acme/acme-large")
        assert [(p.origin, p.model, p.id) for p in listed] == [("operator", "acme-large", price.id)]
        assert listed[0].input_usd_per_mtok == D("1.5")
        shipped = await fl.model_prices.list(origin="shipped")
        assert len(shipped) == len(shipped_prices())
        assert all(p.id is None and p.note for p in shipped)
        with pytest.raises(ValidationError):
            await fl.model_prices.list(origin="mine")  # type: ignore[arg-type]
    assert (await store.model_prices.delete(price.id)).model == "acme-large"  # type: ignore[arg-type]
    assert await store.model_prices.list(origin="operator") == []


# --- the CLI, as a user runs it --------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    return make_cli(monkeypatch, capsys, tmp_path)


def test_the_cli_sets_lists_imports_and_deletes_prices(
    fresh_url: DatabaseUrl, cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    url = url_of(fresh_url)
    assert cli("db", "upgrade", "-d", url)[0] == 0
    code, out, err = cli(
        "prices", "set", "acme-1", "--prefix", "--input", "0.075", "--output", "0.3",
        "--cached", "0.01", "--from", "2025-06-10", "--note", "negotiated", "-d", url,
    )  # fmt: skip
    assert code == 0, err
    assert "acme-1" in out
    assert "0.075" in out
    assert "2025-06-10" in out

    code, out, err = cli("prices", "list", "--origin", "operator", "-d", url)
    assert code == 0, err
    [line] = [row for row in out.splitlines() if "acme-1" in row]
    assert "operator" in line
    assert "prefix" in line
    assert "negotiated" in line
    price_id = next(word for word in line.replace("│", " ").split() if word.count("-") == 4)

    code, out, err = cli("prices", "list", "--model", "gpt-4o-mini-2024-07-18", "-d", url)
    assert code == 0, err
    assert "gpt-4o-mini" in out
    assert "shipped" in out
    assert "acme-1" not in out

    rates = tmp_path / "rates.json"
    rates.write_text(
        json.dumps({"prices": [{"model": "acme-2", "input": 1, "output": 2}]}), encoding="utf-8"
    )
    code, out, err = cli("prices", "import", str(rates), "-d", url)
    assert (code, "Set 1 price") == (0, out.split(" from")[0]), err

    for bad_args, message in [
        (("set", "acme-3", "--input", "-1", "--output", "1"), "between 0 and"),
        (("set", "acme-3", "--input", "x", "--output", "1"), "not a number"),
        (("set", "acme-3", "--input", "1", "--output", "1", "--from", "soon"), "not a date"),
        (("set", "m" * 201, "--input", "1", "--output", "1"), "1 to 200 characters"),
        (("delete", "not-an-id"), "not a price id"),
        (("delete", str(uuid.uuid4())), "not found"),
        (("import", str(tmp_path / "missing.json")), "cannot read"),
        (("list", "--origin", "mine"), "operator or shipped"),
    ]:
        code, _, err = cli("prices", *bad_args, "-d", url)
        assert code != 0, bad_args
        assert message in one_sentence(err), (bad_args, err)
    rates.write_text(json.dumps([{"model": "acme-4", "input": 1}]), encoding="utf-8")
    code, _, err = cli("prices", "import", str(rates), "-d", url)
    assert code == 1
    assert "price #1: output" in one_sentence(err)

    code, out, err = cli("prices", "list", "--origin", "operator", "-d", url)
    assert [r for r in out.splitlines() if "acme-" in r and "operator" in r].__len__() == 2

    code, out, err = cli("prices", "delete", price_id, "-d", url)
    assert code == 0, err
    assert "acme-1" in out
    code, out, err = cli("prices", "list", "--origin", "operator", "-d", url)
    assert "acme-1" not in out
    assert "acme-2" in out
