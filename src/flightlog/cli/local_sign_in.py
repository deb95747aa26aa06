"""The one-time sign-in link that ``serve`` and ``demo --serve`` print, and ``sign-in-link``.

Whom the link signs in as: the demo's customer (Acme Robotics) when the demo is in
the database, since that is the data a person who just ran the demo wants to see;
otherwise the default customer, the one ``open_store()`` and ``flightlog api-key
create`` use when told no other. ``--customer EMAIL`` on ``sign-in-link`` picks any.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import uuid
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path

import typer
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from flightlog.cli.options import DatabaseUrlOption, require_head, settings_for
from flightlog.db.engine import create_sync_engine, sync_session_factory
from flightlog.errors import FlightlogError, NotFound
from flightlog.models import Customer
from flightlog.services import local_sign_in
from flightlog.services.customers import ensure_default_customer
from flightlog.settings import Settings

#: Addresses that listen on every interface, loopback included.
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})
LOCAL_PATH = "/login/local"


def invoked_as() -> str:
    """This command as the person typed it, so the commands we print paste as they are.

    ``.venv/bin/flightlog`` when the script lies under the working directory (the
    README's first command), ``flightlog`` when that name on PATH finds this very
    script, else the script's full path; ``python -m flightlog`` likewise.
    """
    argv0 = sys.argv[0] if sys.argv else "flightlog"
    if Path(argv0).name == "__main__.py":
        return f"{_shown(Path(sys.executable), 'python3')} -m flightlog"
    if os.sep not in argv0:
        return argv0 or "flightlog"
    return _shown(Path(argv0), "flightlog")


def _shown(path: Path, name_on_path: str) -> str:
    absolute = path.absolute()
    try:
        relative = absolute.relative_to(Path.cwd())
    except ValueError:
        found = shutil.which(name_on_path)
        if found is not None and Path(found).absolute() == absolute:
            return name_on_path
        return shlex.quote(str(absolute))
    shown = str(relative)
    return shlex.quote(shown if os.sep in shown else f".{os.sep}{shown}")


def link_base(host: str, port: int) -> str | None:
    """The address a browser on this machine reaches a server bound to ``host`` at, if any.

    A link is redeemed only from a loopback address, so it needs the server to
    listen on one: a wildcard bind includes loopback; one specific outside address
    does not (a browser on this machine would arrive from that address, not loopback).
    """
    if host in _WILDCARDS:
        return f"http://127.0.0.1:{port}"
    if host == "localhost":
        return f"http://localhost:{port}"
    try:
        address = ip_address(host.strip("[]"))
    except ValueError:
        return None
    if not address.is_loopback:
        return None
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"


def _customer(session: Session, email: str | None) -> uuid.UUID:
    if email is not None:
        found = session.scalar(select(Customer.id).where(Customer.email == email.strip()))
        if found is None:
            raise NotFound(f"no customer has the email {email!r}")
        return found
    from flightlog.ops.demo import DEMO_EMAIL  # the demo's modules only when signing in

    demo = session.scalar(select(Customer.id).where(Customer.email == DEMO_EMAIL))
    return demo if demo is not None else ensure_default_customer(session)


@dataclass(frozen=True)
class SignInLink:
    url: str
    customer: str


def issue(settings: Settings, base: str, customer_email: str | None = None) -> SignInLink:
    """Write a new link's hash to the database and return the link (the only copy)."""
    engine = create_sync_engine(settings)
    try:
        with sync_session_factory(engine)() as session, session.begin():
            customer_id = _customer(session, customer_email)
            token = local_sign_in.issue_link(session, customer_id)
            name = local_sign_in.customer_name(session, customer_id)
    finally:
        engine.dispose()
    return SignInLink(f"{base}{LOCAL_PATH}?token={token}", name)


def _minutes() -> int:
    return int(local_sign_in.LINK_LIFETIME.total_seconds() // 60)


def sign_in_lines(
    settings: Settings, host: str, port: int, database_url: str | None = None
) -> list[str]:
    """What ``serve`` prints about signing in: the link, or why there is none."""
    where = f" -d {shlex.quote(database_url)}" if database_url else ""
    again = f"{invoked_as()} sign-in-link --port {port}{where}"
    base = link_base(host, port)
    if base is None:
        return [
            f"  sign in    with an API key ({invoked_as()} api-key create --name dashboard "
            "--customer EMAIL): a one-time link works only from this machine, and this "
            f"server does not listen on its loopback address ({host})",
        ]
    try:
        link = issue(settings, base)
    except (FlightlogError, SQLAlchemyError) as exc:
        reason = exc.message if isinstance(exc, FlightlogError) else str(exc).splitlines()[0]
        return [f"  sign in    with an API key (no sign-in link: {reason})"]
    return [
        f"  sign in    {link.url}",
        f"             (as {link.customer}; from this machine only, once, "
        f"within {_minutes()} minutes; another: {again})",
    ]


def sign_in_link(
    port: int = typer.Option(8000, min=1, max=65535, help="The port the server listens on."),
    host: str = typer.Option("127.0.0.1", help="The address the server listens on."),
    customer: str | None = typer.Option(
        None,
        "--customer",
        help="Sign in as this customer (email). Default: the demo's customer when the "
        "demo is in the database, else the default customer.",
        show_default=False,
    ),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Print a new one-time link that signs a browser on this machine into a running dashboard.

    The link works once, for 10 minutes, only from this machine (a loopback address). It
    signs in with a new read+write API key of the customer, kept in the browser's cookie.

    Example: [bold]flightlog sign-in-link --port 8000[/bold]
    """
    settings = settings_for(database_url)
    require_head(settings)
    base = link_base(host, port)
    if base is None:
        raise typer.BadParameter(
            "a one-time link works only from this machine; give the loopback or wildcard "
            "address the server listens on",
            param_hint="--host",
        )
    link = issue(settings, base, customer)
    typer.echo(link.url)
    typer.echo(
        f"(signs in as {link.customer}; from this machine only, once, within {_minutes()} minutes)"
    )
