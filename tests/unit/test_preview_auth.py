"""fanout preview with a spec's auth: where the credential goes, shown masked; values never shown."""

import json
from pathlib import Path

import pytest

from infra.cli.main import main

CSV = "id,name\n1,Ada\n2,Grace\n"


def preview(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: str, *flags: str
) -> tuple[int, str, str]:
    (tmp_path / "rows.csv").write_text(CSV)
    (tmp_path / "spec.yaml").write_text(spec)
    code = main(["preview", str(tmp_path / "rows.csv"), "--request", str(tmp_path / "spec.yaml"), *flags])
    out, err = capsys.readouterr()
    return code, out, err


def test_each_kind_shows_the_headers_it_adds_with_the_credential_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = "url: /rows/{id}\nauth: {type: header, name: x-api-key, secret: api-key}\n"
    code, out, err = preview(capsys, tmp_path, spec, "--api-url", "https://api.example.com")
    assert code == 0
    first = json.loads(out.splitlines()[0])
    assert first["url"] == "https://api.example.com/rows/1"
    assert first["headers"]["x-api-key"] == "*** (secret api-key)"
    assert "fanout run will need --secret api-key=@FILE" in err
    signed = "auth: {type: sigv4, service: execute-api, region: eu-west-1}\n"
    headers = json.loads(preview(capsys, tmp_path, signed)[1].splitlines()[0])["headers"]
    assert headers["Authorization"] == "AWS4-HMAC-SHA256 Credential=<role>/eu-west-1/execute-api ***"
    assert headers["X-Amz-Content-Sha256"] == "<SHA-256 of the body>"


def test_a_secret_given_is_never_shown_wherever_a_spec_put_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a spec that (wrongly) also writes the key into the body
    (tmp_path / "key").write_text("k-5ecret-99\n")
    spec = "auth: {type: header, name: x-api-key, secret: api-key}\n"
    spec += 'body: {"id": "{id}", "note": "k-5ecret-99"}\n'
    code, out, err = preview(capsys, tmp_path, spec, "--secret", f"api-key=@{tmp_path / 'key'}")
    # THEN the preview masks it, and says nothing of a missing secret
    assert code == 0
    assert "k-5ecret-99" not in out + err
    assert json.loads(out.splitlines()[0])["body"] == {"id": "1", "note": "***"}
    assert "will need" not in err


def test_a_credential_to_a_plain_http_api_is_refused_before_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = "auth: {type: header, secret: api-key}\n"
    code, out, err = preview(capsys, tmp_path, spec, "--api-url", "http://api.example.com/rows")
    assert code == 2 and out == ""
    assert "auth (header) needs https://" in err and len(err.strip().splitlines()) == 1
