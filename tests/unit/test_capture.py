"""The spec's `capture`: JMESPath on the JSON body and response headers, never failing a row."""

from __future__ import annotations

import pytest

from fanout.capture import parse_capture
from fanout.errors import InputError
from fanout.request_spec import parse_spec

HEADERS = {"ETag": '"abc"'}


class Caseless(dict[str, str]):
    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return next((v for k, v in self.items() if k.lower() == name.lower()), default)


def test_the_issue_example_captures_body_paths_and_a_header() -> None:
    # GIVEN the issue's capture, plus a header
    spec = parse_spec({"capture": {"customer_id": "id", "version": "meta.version", "etag": "headers.etag"}})
    # WHEN a JSON response comes back
    values = spec.capture.extract(b'{"id": "R7", "meta": {"version": 3}}', Caseless(HEADERS))
    # THEN each column holds its value as text, the header found in any case
    assert values == {"customer_id": "R7", "version": "3", "etag": '"abc"'}
    assert spec.capture.names == ("customer_id", "version", "etag")


def test_objects_and_lists_are_kept_as_compact_json() -> None:
    capture = parse_capture({"tags": "tags", "first": "items[0].name"}, "capture")
    body = '{"tags": ["a", "ü"], "items": [{"name": "x"}]}'.encode()
    assert capture.extract(body, Caseless()) == {"tags": '["a","ü"]', "first": "x"}


@pytest.mark.parametrize("body", [b"not json", b"", b"\xff\xfe", b'{"other": 1}', b"[1, 2]"])
def test_a_body_that_is_not_json_or_lacks_the_path_leaves_the_column_empty(body: bytes) -> None:
    capture = parse_capture({"customer_id": "id", "etag": "headers.ETag"}, "capture")
    assert capture.extract(body, Caseless(HEADERS)) == {"customer_id": "", "etag": '"abc"'}


@pytest.mark.parametrize(
    ("capture", "message"),
    [
        ({"id": "[["}, "capture.id: '[[' is not a JMESPath expression"),
        ({"outcome": "id"}, "capture.outcome: a column name"),
        ({"x y": "id"}, "capture.x y: a column name"),
        ({"id": ""}, "capture.id: expected an expression"),
        ({"etag": "headers."}, "capture.etag: headers. needs a header name"),
        (["id"], "capture: expected a mapping"),
    ],
)
def test_a_bad_capture_is_one_error_naming_the_field(capture: object, message: str) -> None:
    with pytest.raises(InputError, match="^" + message.replace("[", r"\[").replace(".", r"\.")):
        parse_spec({"capture": capture})
