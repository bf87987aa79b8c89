"""Which HTTP statuses mean success, retry or a permanent refusal: the request spec's `outcomes`.

Patterns are exact codes (`409`) or classes (`2xx`). A status is looked up in a table built once
per spec, so classifying a response costs one index whatever the rules say. Exact codes beat
classes (`success: [2xx]` with `retry: [202]` retries a 202); a code or class in both lists is a
spec error, not a silent choice.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from fanout.errors import InputError

# HTTP status codes are three digits, 100-599 (RFC 9110 15); anything else is permanent.
LOWEST_STATUS = 100
HIGHEST_STATUS = 599

_EXACT = re.compile(r"[1-5][0-9][0-9]")
_CLASS = re.compile(r"[1-5]xx", re.IGNORECASE)


class Verdict(enum.Enum):
    SUCCESS = "success"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class StatusPatterns:
    """One list of an `outcomes` section: exact codes and classes (the class's first digit)."""

    codes: frozenset[int]
    classes: frozenset[int]

    @classmethod
    def parse(cls, value: object, where: str) -> StatusPatterns:
        if not isinstance(value, list):
            raise InputError(f"{where}: expected a list of statuses such as [2xx, 409]")
        codes: set[int] = set()
        classes: set[int] = set()
        for item in value:
            text = str(item).strip() if isinstance(item, int | str) and not isinstance(item, bool) else ""
            if _EXACT.fullmatch(text):
                codes.add(int(text))
            elif _CLASS.fullmatch(text):
                classes.add(int(text[0]))
            else:
                raise InputError(
                    f"{where}: {item!r} is not a status pattern "
                    "(a code 100-599 such as 409, or a class such as 2xx)"
                )
        return cls(frozenset(codes), frozenset(classes))

    def describe(self) -> list[str]:
        return [f"{c}xx" for c in sorted(self.classes)] + [str(c) for c in sorted(self.codes)]


@dataclass(frozen=True)
class Outcomes:
    """What each status means; built once, looked up per response."""

    success: StatusPatterns
    retry: StatusPatterns

    def __post_init__(self) -> None:
        for what, both in (
            ("class", self.success.classes & self.retry.classes),
            ("code", self.success.codes & self.retry.codes),
        ):
            if both:
                shown = ", ".join(f"{c}xx" if what == "class" else str(c) for c in sorted(both))
                raise InputError(f"outcomes: {shown} is in both success and retry")
        table = [Verdict.PERMANENT] * (HIGHEST_STATUS + 1)
        for status in range(LOWEST_STATUS, HIGHEST_STATUS + 1):
            if status in self.success.codes:
                table[status] = Verdict.SUCCESS
            elif status in self.retry.codes:
                table[status] = Verdict.RETRY
            elif status // 100 in self.success.classes:
                table[status] = Verdict.SUCCESS
            elif status // 100 in self.retry.classes:
                table[status] = Verdict.RETRY
        object.__setattr__(self, "_table", tuple(table))

    def verdict(self, status: int) -> Verdict:
        table: tuple[Verdict, ...] = self.__dict__["_table"]
        return table[status] if 0 <= status <= HIGHEST_STATUS else Verdict.PERMANENT

    def describe(self) -> dict[str, list[str]]:
        return {"success": self.success.describe(), "retry": self.retry.describe()}

    @classmethod
    def of(cls, success: Sequence[object], retry: Sequence[object]) -> Outcomes:
        return cls(
            StatusPatterns.parse(list(success), "outcomes.success"),
            StatusPatterns.parse(list(retry), "outcomes.retry"),
        )


# Today's rules, and a spec's when it says nothing: 2xx succeed; 429 and 5xx are retried (429
# and 503 as long as Retry-After asks, worker/responses.py); every other status is permanent.
DEFAULT_SUCCESS = ("2xx",)
DEFAULT_RETRY = ("429", "5xx")
DEFAULT_OUTCOMES = Outcomes.of(DEFAULT_SUCCESS, DEFAULT_RETRY)
