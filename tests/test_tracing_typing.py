"""mypy sees a decorated step's own signature, and the SDK's calls with their real types.

The example file is type-checked, not run.
"""

from __future__ import annotations

from pathlib import Path

from mypy import api

EXAMPLE = Path(__file__).parent / "typing_examples" / "tracing_faces.py"


def test_decorated_steps_keep_their_signatures_for_mypy() -> None:
    out, err, _status = api.run(
        ["--strict", "--no-error-summary", "--hide-error-context", str(EXAMPLE)]
    )
    lines = [line for line in out.splitlines() if f"{EXAMPLE.name}:" in line]
    notes = [line.split("Revealed type is ", 1)[1] for line in lines if "Revealed type" in line]
    errors = [line for line in lines if ": error:" in line]
    assert notes == [
        '"def (spec: str, *, language: str =) -> str"',
        '"def (topic: str) -> typing.Coroutine[Any, Any, list[str]]"',
        '"def (text: str) -> bool"',
        '"uuid.UUID"',
    ], out + err
    assert len(errors) == 3, "\n".join(errors)
    assert 'Argument "prompt_tokens" to "usage"' in errors[0]
    assert 'Argument 1 to "engineer" has incompatible type "int"; expected "str"' in errors[1]
    assert 'Argument "content" to "event"' in errors[2]
