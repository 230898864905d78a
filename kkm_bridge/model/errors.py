"""Errors and problems of the receipt model.

Every rejection the model makes carries three things: a stable machine ``code`` (clients and the HTTP
layer switch on it, so codes are never renamed), a JSON-pointer-like ``path`` to the offending field
(``/items/0/price``) so a caller with a big receipt knows *where*, and a human ``message``.

``Problem`` is the plain value; the exceptions wrap one problem (``InputError``, ``ConfigError``) or
many (``ValidationError``, because validation reports everything at once instead of stopping at the
first mistake).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

__all__ = [
    "Problem",
    "ModelError",
    "InputError",
    "ConfigError",
    "ValidationError",
    "join_path",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: stable code, JSON-pointer-like path, human message."""

    code: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.message} [{self.code}]"


def join_path(base: str, *parts: str | int) -> str:
    """Extend a JSON-pointer-like path: ``join_path("/items", 0, "price") == "/items/0/price"``.

    Segments are escaped as RFC 6901 says (``~`` -> ``~0``, ``/`` -> ``~1``) so a key containing a slash
    cannot make a path ambiguous.
    """
    out = base
    for part in parts:
        text = part if type(part) is str else str(part)
        if "~" in text or "/" in text:  # the usual segment (a field name, an index) needs no escaping
            text = text.replace("~", "~0").replace("/", "~1")
        out = f"{out}/{text}"
    return out


class ModelError(ValueError):
    """Base of every error the model raises.

    A ``ValueError`` because each one means "this value is not acceptable", so generic callers that
    already catch ``ValueError`` keep working.
    """

    def __init__(self, code: str, path: str, message: str) -> None:
        super().__init__(f"{path or '/'}: {message}")
        self.code = code
        self.path = path
        self.message = message

    @property
    def problem(self) -> Problem:
        return Problem(self.code, self.path, self.message)

    @property
    def problems(self) -> list[Problem]:
        return [self.problem]


class InputError(ModelError):
    """A single input value (amount, quantity, rate code, identifier...) was rejected."""


class ConfigError(ModelError):
    """A configuration structure (tax profile, unit table, payment codes) is malformed.

    Kept apart from ``InputError`` because it is the operator's mistake, not the client's: the HTTP
    layer should never turn it into a 4xx answer.
    """


class ValidationError(ModelError):
    """A receipt has one or more problems; ``problems`` lists all of them."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        items = list(problems)
        if not items:
            raise ValueError("ValidationError needs at least one problem")
        first = items[0]
        super().__init__(first.code, first.path, first.message)
        self._problems = items
        # Replace the one-problem text with a summary of all of them.
        self.args = ("; ".join(str(p) for p in items),)

    @property
    def problems(self) -> list[Problem]:
        return list(self._problems)
