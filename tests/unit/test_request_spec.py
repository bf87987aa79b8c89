"""Parsing a request spec: defaults, and one error naming the field for each kind of mistake."""

import pytest

from fanout.errors import InputError
from fanout.outcomes import Verdict
from fanout.request_spec import SECTIONS, Body, RequestSpec, parse_spec, parse_spec_json, spec_json


def test_an_empty_spec_is_a_post_of_every_column() -> None:
    spec = parse_spec({})
    assert spec.method == "POST"
    assert spec.effective_body == Body("default")
    assert spec.idempotency_header == "Idempotency-Key"
    assert spec.outcomes.verdict(409) is Verdict.PERMANENT


@pytest.mark.parametrize("method", ["GET", "delete"])
def test_get_and_delete_send_no_body_unless_asked(method: str) -> None:
    assert parse_spec({"method": method}).effective_body == Body("none")
    assert parse_spec({"method": method, "body": "default"}).effective_body == Body("default")


def test_the_issue_example_parses() -> None:
    spec = parse_spec(
        {
            "method": "PUT",
            "url": "/customers/{id}",
            "query": {"source": "fanout", "region": "{region}"},
            "headers": {"X-Tenant": "{tenant}"},
            "columns": {"age": "integer", "score": "number", "active": "boolean", "tags": "json"},
            "empty": "keep",
            "body": "default",
            "outcomes": {"success": ["2xx", 409], "retry": [408, 429, "5xx"]},
            "idempotency_header": "Idempotency-Key",
        }
    )
    assert spec.method == "PUT"
    assert spec.url.names == ("id",)
    assert spec.outcomes.verdict(409) is Verdict.SUCCESS
    assert spec.outcomes.verdict(408) is Verdict.RETRY


def test_yaml_nulls_mean_what_they_say() -> None:
    spec = parse_spec({"empty": None, "idempotency_header": None})
    assert (spec.empty, spec.idempotency_header) == ("null", None)
    assert parse_spec({"idempotency_header": "none"}).idempotency_header is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1], "the spec: expected an object of name: value, found a list"),
        ({"heders": {}}, "unknown field 'heders' (fields: method, url, query, headers, columns, "),
        ({"method": "FETCH"}, "method: 'FETCH' is not one of GET, POST, PUT, PATCH, DELETE"),
        ({"url": "/x/{id"}, "url: unmatched '{' in '/x/{id' (write {{ for a literal brace)"),
        ({"url": "/x/}"}, "url: unmatched '}' in '/x/}'"),
        ({"url": "/x/{}"}, "url: an empty placeholder {} in '/x/{}'"),
        ({"url": "https://{host}/x"}, "url: an absolute URL's host must be written out, not a placeholder"),
        ({"url": "ftp://h/x"}, "url: 'ftp://h/x': an absolute URL must be http:// or https://"),
        ({"query": ["a"]}, "query: expected an object of name: value, found a list"),
        ({"query": {"a": {"b": 1}}}, "query.a: expected text, found an object"),
        ({"headers": {"X-On": True}}, "headers.X-On: expected text, found a boolean (quote it: YAML reads"),
        ({"headers": {"Bad Name": "x"}}, "headers: 'Bad Name' is not a valid header name"),
        ({"headers": {"Host": "x"}}, "headers.Host: set by the HTTP client from the request itself"),
        ({"headers": {"X-A": "1", "x-a": "2"}}, "headers.x-a: the header is named twice"),
        ({"headers": {"Idempotency-Key": "{id}"}}, "headers.Idempotency-Key: the idempotency_header sets it"),
        (
            {"columns": {"age": "int"}},
            "columns.age: 'int' is not a type (string, integer, number, boolean, json)",
        ),
        ({"empty": "drop"}, "empty: 'drop' is not one of keep, null, omit"),
        ({"body": "everything"}, "body: 'everything' is not one of default, flat, none, nor a JSON template"),
        ({"body": 3}, "body: expected default, flat, none or a JSON template, found a number"),
        ({"body": {"a": ["{x"]}}, "body.a[0]: unmatched '{'"),
        ({"outcomes": {"sucess": ["2xx"]}}, "outcomes: unknown field 'sucess' (fields: success, retry)"),
        (
            {"outcomes": {"success": "2xx"}},
            "outcomes.success: expected a list of statuses such as [2xx, 409]",
        ),
        ({"outcomes": {"success": ["2xx", "7xx"]}}, "outcomes.success: '7xx' is not a status pattern"),
        ({"outcomes": {"success": ["5xx"]}}, "outcomes: 5xx is in both success and retry"),
        ({"idempotency_header": "Idem Key"}, "idempotency_header: 'Idem Key' is not a valid header name"),
    ],
)
def test_bad_specs_are_one_line_naming_the_field(document: object, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_spec(document)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_every_section_fills_the_field_of_its_name() -> None:
    assert set(SECTIONS) <= set(RequestSpec.__dataclass_fields__)


def test_a_stored_spec_reads_back_as_the_same_spec() -> None:
    document = {"method": "PATCH", "url": "/c/{id}", "body": {"n": "{n}"}, "empty": None}
    spec, read = parse_spec_json(spec_json(document))
    assert read == document
    assert spec == parse_spec(document)


def test_a_stored_spec_that_is_not_json_says_so() -> None:
    with pytest.raises(InputError, match=r"^not JSON: "):
        parse_spec_json("method: PUT")
