"""Finding a local stack: a bad endpoint is a one-line error, not botocore's traceback."""

from __future__ import annotations

import argparse

import pytest

from fanout.errors import InputError
from infra.ops.stack_ref import connect


@pytest.mark.parametrize("endpoint", ["at", "127.0.0.1:4566", "ftp://127.0.0.1:4566", "http://"])
def test_an_endpoint_that_is_not_an_http_url_is_refused_with_what_to_use(endpoint: str) -> None:
    args = argparse.Namespace(stack=None, endpoint_url=endpoint)
    with pytest.raises(InputError, match="is not an http\\(s\\) URL"):
        connect(args)
