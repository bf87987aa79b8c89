"""Rendering rows into requests: URL, query, headers and typed bodies, as a spec says."""

import json
from typing import Any

import pytest

from fanout.cells import CellError
from fanout.contract import Row
from fanout.errors import InputError
from fanout.rendering import UNNAMED_ENDPOINT, Endpoint, Origin, Request, RequestRenderer
from fanout.request_spec import DEFAULT_REQUEST, parse_spec

API = Endpoint.parse("https://api.example.com/v1/")


def render(
    document: dict[str, Any], columns: tuple[str, ...], values: tuple[str, ...], number: int = 7
) -> Request:
    return RequestRenderer(parse_spec(document), columns, API).render("job-1", Row(number, values))


def body(request: Request) -> Any:
    assert request.body is not None
    return json.loads(request.body)


def test_the_default_request_is_todays() -> None:
    # GIVEN no spec WHEN a row renders THEN a POST of the row's strings to the API URL itself
    renderer = RequestRenderer(
        DEFAULT_REQUEST, ("id", "a.b", "_fanout_reason"), Endpoint.parse("http://h:8080/rows")
    )
    request = renderer.render("job-1", Row(3, ("007", "x", "HTTP 500")))
    assert (request.method, request.url) == ("POST", "http://h:8080/rows")
    assert request.headers == {"Content-Type": "application/json", "Idempotency-Key": "job-1:3"}
    assert request.body == json.dumps({"id": "007", "a.b": "x"}, ensure_ascii=False).encode()


def test_url_placeholders_are_percent_encoded_and_relative_urls_join_the_api_path() -> None:
    request = render({"method": "PUT", "url": "/customers/{id}"}, ("id",), ("a/b c?",))
    assert request.method == "PUT"
    assert request.url == "https://api.example.com/v1/customers/a%2Fb%20c%3F"
    assert request.origin == Origin("https", "api.example.com", 443)
    assert request.target == "/v1/customers/a%2Fb%20c%3F"


def test_an_absolute_url_goes_to_its_own_host() -> None:
    request = render({"url": "http://127.0.0.1:9000/x/{id}?v=2"}, ("id",), ("5",))
    assert request.origin == Origin("http", "127.0.0.1", 9000)
    assert request.url == "http://127.0.0.1:9000/x/5?v=2"


def test_query_parameters_are_encoded_and_follow_the_api_urls_own() -> None:
    endpoint = Endpoint.parse("http://h/rows?key=1")
    spec = parse_spec({"url": "/r?fixed=a", "query": {"source": "fanout", "region name": "{region}"}})
    request = RequestRenderer(spec, ("region",), endpoint).render("j", Row(1, ("eu west&1",)))
    assert request.target == "/rows/r?key=1&fixed=a&source=fanout&region%20name=eu%20west%261"


def test_headers_take_cells_and_the_idempotency_header_can_be_renamed_or_dropped() -> None:
    request = render(
        {"headers": {"X-Tenant": "t-{tenant}"}, "idempotency_header": "X-Request-Id"}, ("tenant",), ("9",)
    )
    assert request.headers == {
        "Content-Type": "application/json",
        "X-Tenant": "t-9",
        "X-Request-Id": "job-1:7",
    }
    request = render({"idempotency_header": "none"}, ("tenant",), ("9",))
    assert request.headers == {"Content-Type": "application/json"}


def test_a_spec_content_type_replaces_the_default() -> None:
    request = render({"headers": {"content-type": "application/vnd.api+json"}}, ("a",), ("1",))
    assert request.headers == {"content-type": "application/vnd.api+json", "Idempotency-Key": "job-1:7"}


def test_default_body_nests_dotted_columns_with_their_types() -> None:
    columns = ("id", "age", "score", "active", "tags", "address.city", "address.geo.lat")
    spec = {
        "columns": {
            "age": "integer",
            "score": "number",
            "active": "boolean",
            "tags": "json",
            "address.geo.lat": "number",
        }
    }
    request = render(spec, columns, ("007", "42", "1e3", "yes", '["a"]', "Paris", "48.85"))
    assert body(request) == {
        "id": "007",
        "age": 42,
        "score": 1000.0,
        "active": True,
        "tags": ["a"],
        "address": {"city": "Paris", "geo": {"lat": 48.85}},
    }


def test_flat_body_keeps_dotted_names() -> None:
    assert body(render({"body": "flat"}, ("a.b",), ("1",))) == {"a.b": "1"}


@pytest.mark.parametrize(
    ("empty", "expected"),
    [
        ("keep", {"name": "", "age": "", "address": {"city": ""}}),
        ("null", {"name": None, "age": None, "address": {"city": None}}),
        ("omit", {"address": {}}),
    ],
)
def test_empty_cells_in_the_body_under_each_mode(empty: str, expected: dict[str, Any]) -> None:
    spec = {"empty": empty, "columns": {"age": "integer"}}
    assert body(render(spec, ("name", "age", "address.city"), ("", "", ""))) == expected


def test_empty_cells_leave_out_whole_placeholder_query_and_headers_unless_kept() -> None:
    spec: dict[str, Any] = {"query": {"r": "{r}"}, "headers": {"X-R": "{r}"}, "empty": "omit"}
    request = render(spec, ("r",), ("",))
    assert (request.target, "X-R" in request.headers) == ("/v1/", False)
    spec["empty"] = "keep"
    request = render(spec, ("r",), ("",))
    assert (request.target, request.headers["X-R"]) == ("/v1/?r=", "")


def test_a_template_body_types_whole_placeholders_and_interpolates_the_rest_as_text() -> None:
    spec = {
        "columns": {"age": "integer", "tags": "json"},
        "body": {
            "customer": {"id": "{id}", "age": "{age}", "label": "{name} ({age})"},
            "tags": "{tags}",
            "list": ["{age}", "{{literal}}"],
            "fixed": 1,
            "none": None,
        },
    }
    request = render(spec, ("id", "age", "name", "tags"), ("007", "42", "Ann", '{"a": 1}'))
    assert body(request) == {
        "customer": {"id": "007", "age": 42, "label": "Ann (42)"},
        "tags": {"a": 1},
        "list": [42, "{literal}"],
        "fixed": 1,
        "none": None,
    }


def test_omitted_cells_leave_template_fields_and_list_items_out() -> None:
    spec = {"empty": "omit", "body": {"a": "{a}", "b": ["{a}", "{b}"], "text": "x{a}y"}}
    assert body(render(spec, ("a", "b"), ("", "2"))) == {"b": ["2"], "text": "xy"}


def test_a_whole_placeholder_body_is_the_cells_json() -> None:
    assert body(render({"columns": {"doc": "json"}, "body": "{doc}"}, ("doc",), ('[1, {"x": 2}]',))) == [
        1,
        {"x": 2},
    ]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_send_no_body_nor_content_type(method: str) -> None:
    request = render({"method": method, "url": "/c/{id}"}, ("id",), ("1",))
    assert (request.body, "Content-Type" in request.headers) == (None, False)


@pytest.mark.parametrize(
    ("document", "values", "column", "reason"),
    [
        ({"columns": {"n": "integer"}}, ("x1",), "n", "not an integer"),
        ({"url": "/c/{n}"}, ("",), "n", "empty, and the URL path needs a value"),
        (
            {"headers": {"X-N": "{n}"}},
            ("a\r\nX-Evil: 1",),
            "n",
            "a header value cannot hold a line break or NUL",
        ),
        ({"headers": {"X-N": "{n}"}}, ("日本",), "n", "a header value must be Latin-1 text"),
    ],
)
def test_cells_that_cannot_be_sent_reject_the_row(
    document: dict[str, Any], values: tuple[str, ...], column: str, reason: str
) -> None:
    with pytest.raises(CellError) as caught:
        render(document, ("n",), values)
    assert (caught.value.column, caught.value.reason) == (column, reason)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"url": "/c/{idd}"},
            "url: placeholder {idd} names no column (the file's columns: id, address.city)",
        ),
        (
            {"query": {"q": "{x}"}},
            "query.q: placeholder {x} names no column (the file's columns: id, address.city)",
        ),
        ({"headers": {"X-A": "{x}"}}, "headers.X-A: placeholder {x} names no column"),
        ({"body": {"a": ["{x}"]}}, "body.a[0]: placeholder {x} names no column"),
        (
            {"columns": {"age": "integer"}},
            "columns.age: no such column (the file's columns: id, address.city)",
        ),
    ],
)
def test_placeholders_and_types_must_name_the_files_columns(document: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        RequestRenderer(parse_spec(document), ("id", "address.city"), API)
    assert str(caught.value).startswith(message)


def test_a_column_that_is_both_a_value_and_an_object_is_a_spec_error() -> None:
    with pytest.raises(InputError, match=r"^body: columns address and address\.city cannot both be fields"):
        RequestRenderer(parse_spec({}), ("address", "address.city"), API)
    RequestRenderer(parse_spec({"body": "flat"}), ("address", "address.city"), API)


def test_without_an_api_url_relative_urls_show_a_stand_in() -> None:
    renderer = RequestRenderer(parse_spec({"url": "/c/{id}"}), ("id",), UNNAMED_ENDPOINT)
    assert renderer.render("j", Row(1, ("5",))).url == "{ApiUrl}/c/5"
    assert (
        RequestRenderer(DEFAULT_REQUEST, ("id",), UNNAMED_ENDPOINT).render("j", Row(1, ("5",))).url
        == "{ApiUrl}"
    )
