"""The request spec's `auth:` section: the three kinds as the issue spells them, one-line errors."""

import pytest

from fanout.auth_spec import Header, OAuth2, SigV4, masked_headers, parse_auth
from fanout.errors import InputError
from fanout.request_spec import check_auth_destination, parse_spec


def test_the_three_kinds_parse_as_the_issue_writes_them() -> None:
    assert parse_auth({"type": "sigv4", "service": "execute-api", "region": "us-east-1"}) == SigV4(
        "execute-api", "us-east-1"
    )
    assert parse_auth({"type": "sigv4"}) == SigV4("execute-api", "")  # the worker's region
    oauth2 = {
        "type": "oauth2",
        "token_url": "https://id.example.com/oauth2/token",
        "scope": "a b",
        "client_id": "my-client",
        "client_secret": "NAME",
    }
    assert parse_auth(oauth2) == OAuth2("https://id.example.com/oauth2/token", "my-client", "NAME", "a b")
    assert parse_auth({"type": "header", "name": "x-api-key", "secret": "NAME"}) == Header(
        "NAME", "x-api-key"
    )
    assert parse_auth({"type": "header", "secret": "team/api"}) == Header("team/api", "Authorization")
    assert parse_auth(oauth2).secrets == ("NAME",)
    assert parse_auth({"type": "sigv4"}).secrets == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("sigv4", r"^auth: expected a mapping with a type \(sigv4, oauth2, header\)$"),
        ({"type": "basic"}, r"^auth\.type: expected one of sigv4, oauth2, header, got 'basic'$"),
        ({"type": "header"}, r"^auth\.secret: required for type header$"),
        (
            {"type": "header", "secret": "k", "value": "abc"},
            r"^auth: unknown field 'value' for type header \(fields: type, secret, name\)$",
        ),
        ({"type": "header", "secret": 12}, r"^auth\.secret: expected text, got int$"),
        ({"type": "header", "secret": "a b"}, r"^auth: secret name 'a b' must be"),
        ({"type": "header", "secret": "k", "name": "Content-Type"}, r"^auth\.name: 'Content-Type' is not"),
        ({"type": "header", "secret": "k", "name": "x key"}, r"^auth\.name: 'x key' is not a header name"),
        ({"type": "sigv4", "region": "US East"}, r"^auth\.region: 'US East' is not an AWS region name"),
        ({"type": "sigv4", "service": ""}, r"^auth\.service: must not be empty"),
        (
            {
                "type": "oauth2",
                "token_url": "http://id.example.com/t",
                "client_id": "c",
                "client_secret": "s",
            },
            r"^auth\.token_url: must be https://",
        ),
        (
            {"type": "oauth2", "token_url": "id.example.com", "client_id": "c", "client_secret": "s"},
            r"^auth\.token_url: expected an https:// URL",
        ),
        ({"type": "oauth2", "token_url": "https://i/t", "client_secret": "s"}, r"^auth\.client_id: required"),
        (
            {
                "type": "oauth2",
                "token_url": "https://i/t",
                "client_id": "c",
                "client_secret": "s",
                "client_auth": "x",
            },
            r"^auth\.client_auth: expected basic or body, got 'x'$",
        ),
    ],
)
def test_a_bad_section_is_one_line_naming_the_field(raw: object, message: str) -> None:
    with pytest.raises(InputError, match=message) as raised:
        parse_auth(raw)
    assert "\n" not in str(raised.value)


def test_a_token_endpoint_on_this_machine_may_be_plain_http() -> None:
    spec = parse_auth(
        {"type": "oauth2", "token_url": "http://127.0.0.1:9/token", "client_id": "c", "client_secret": "s"}
    )
    assert isinstance(spec, OAuth2) and spec.client_auth == "basic"


def test_preview_shows_where_a_credential_goes_but_never_a_value() -> None:
    base = {"Content-Type": "application/json"}
    assert masked_headers(None, base) == base
    assert masked_headers(Header("api-key", "x-api-key"), base)["x-api-key"] == "*** (secret api-key)"
    bearer = masked_headers(OAuth2("https://id/t", "c", "s"), base)["Authorization"]
    assert bearer == "Bearer *** (a token from https://id/t)"
    signed = masked_headers(SigV4("execute-api", "eu-west-1"), base)
    assert signed["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=<role>/eu-west-1/execute-api")
    assert set(signed) == {"Content-Type", "Authorization", "X-Amz-Date", "X-Amz-Content-Sha256"}


def test_the_spec_takes_auth_and_keeps_it_apart_from_its_own_headers() -> None:
    spec = parse_spec({"url": "/rows/{id}", "auth": {"type": "header", "name": "x-api-key", "secret": "k"}})
    assert spec.auth == Header("k", "x-api-key")
    assert parse_spec({}).auth is None
    with pytest.raises(InputError, match=r"^headers\.X-Api-Key: auth \(header\) sets it"):
        parse_spec(
            {"headers": {"X-Api-Key": "x"}, "auth": {"type": "header", "name": "x-api-key", "secret": "k"}}
        )
    with pytest.raises(InputError, match=r"^headers\.Authorization: auth \(oauth2\) sets it"):
        parse_spec({"headers": {"Authorization": "x"}, "auth": OAUTH2})
    with pytest.raises(InputError, match=r"^headers\.X-Amz-Date: auth \(sigv4\) sets it"):
        parse_spec({"headers": {"X-Amz-Date": "x"}, "auth": {"type": "sigv4"}})
    with pytest.raises(InputError, match=r"^auth\.type: expected one of"):
        parse_spec({"auth": {"type": "basic"}})


def test_a_credential_goes_only_where_tls_protects_it() -> None:
    with pytest.raises(
        InputError, match=r"^url 'http://api\.example\.com/rows/': auth \(oauth2\) needs https://"
    ):
        parse_spec({"url": "http://api.example.com/rows/{id}", "auth": OAUTH2})
    parse_spec({"url": "https://api.example.com/rows/{id}", "auth": OAUTH2})
    relative = parse_spec({"url": "/rows/{id}", "auth": OAUTH2})
    check_auth_destination(relative, "https://api.example.com/v1")
    check_auth_destination(relative, "http://127.0.0.1:8080/v1")
    with pytest.raises(
        InputError, match=r"^--api-url 'http://api\.example\.com/v1': auth \(oauth2\) needs https"
    ):
        check_auth_destination(relative, "http://api.example.com/v1", "--api-url")
    check_auth_destination(parse_spec({}), "http://api.example.com/v1")  # nothing to protect


OAUTH2 = {"type": "oauth2", "token_url": "https://id.example.com/t", "client_id": "c", "client_secret": "s"}
