"""Which spec a dropped file asks for, by its metadata or the stack's DefaultRequest."""

import pytest

from fanout.errors import InputError
from fanout.request_store import request_key, requested


def test_a_spec_name_is_a_key_under_requests() -> None:
    assert request_key("customers.json") == "requests/customers.json"
    assert request_key("requests/customers.json") == "requests/customers.json"
    assert request_key("/a/b.json") == "requests/a/b.json"
    with pytest.raises(InputError):
        request_key("requests/")


def test_the_files_metadata_beats_the_stacks_default() -> None:
    metadata = {"fanout-request": "requests/a.json", "fanout-request-version": "v1"}
    assert requested(metadata, "default.json") == ("requests/a.json", "v1")
    assert requested({}, "default.json") == ("requests/default.json", "")
    assert requested({}, "") is None
