"""A spec file as the local stack's default request (`fanout local up --request SPEC`)."""

from pathlib import Path

import pytest

from fanout.errors import InputError
from infra.cli.request_files import read_request_file


def test_the_spec_becomes_the_stacks_default_request_under_the_key_it_is_uploaded_as(tmp_path: Path) -> None:
    path = tmp_path / "our customers.yaml"
    path.write_text("url: /customers/{id}\n")
    request = read_request_file(path)
    parameters = request.as_stack_default({"ApiUrl": "http://127.0.0.1:9/", "DefaultRequest": ""})
    assert parameters == {"ApiUrl": "http://127.0.0.1:9/", "DefaultRequest": "requests/our-customers.json"}
    assert request.key == "requests/our-customers.json"


def test_a_default_request_named_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "customers.yaml"
    path.write_text("url: /customers/{id}\n")
    with pytest.raises(InputError, match=r"--request .*customers.yaml and --param DefaultRequest= both"):
        read_request_file(path).as_stack_default({"DefaultRequest": "other.json"})
