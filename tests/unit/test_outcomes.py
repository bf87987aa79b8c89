"""Outcome rules: exact codes and classes, which beats which, and what is an error."""

import pytest

from fanout.errors import InputError
from fanout.outcomes import DEFAULT_OUTCOMES, Outcomes, Verdict


def test_default_rules_are_todays() -> None:
    assert [DEFAULT_OUTCOMES.verdict(s) for s in (200, 204, 299)] == [Verdict.SUCCESS] * 3
    assert [DEFAULT_OUTCOMES.verdict(s) for s in (429, 500, 503, 599)] == [Verdict.RETRY] * 4
    assert [DEFAULT_OUTCOMES.verdict(s) for s in (301, 400, 408, 409, 0, 600, 999)] == [Verdict.PERMANENT] * 7


def test_listed_codes_and_classes() -> None:
    outcomes = Outcomes.of(["2xx", 409], ["408", 429, "5XX"])
    assert outcomes.verdict(409) is Verdict.SUCCESS
    assert outcomes.verdict(408) is Verdict.RETRY
    assert outcomes.verdict(404) is Verdict.PERMANENT
    assert outcomes.verdict(504) is Verdict.RETRY


def test_an_exact_code_beats_a_class() -> None:
    outcomes = Outcomes.of(["2xx", 503], ["202", "5xx"])
    assert outcomes.verdict(202) is Verdict.RETRY
    assert outcomes.verdict(503) is Verdict.SUCCESS
    assert outcomes.verdict(201) is Verdict.SUCCESS


@pytest.mark.parametrize(
    ("success", "retry", "message"),
    [
        (["2xx"], ["2xx"], "outcomes: 2xx is in both success and retry"),
        ([409], ["409"], "outcomes: 409 is in both success and retry"),
        (["2xx", "6xx"], [], "outcomes.success: '6xx' is not a status pattern"),
        (["20x"], [], "outcomes.success: '20x' is not a status pattern"),
        ([], [99], "outcomes.retry: 99 is not a status pattern"),
        ([], [True], "outcomes.retry: True is not a status pattern"),
    ],
)
def test_bad_rules_are_errors_naming_the_field(
    success: list[object], retry: list[object], message: str
) -> None:
    with pytest.raises(InputError, match="^" + message.replace("(", r"\(")):
        Outcomes.of(success, retry)
