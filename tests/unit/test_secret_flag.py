"""`--secret NAME=@FILE` / `NAME=env:VAR`: the value from a file or a variable, never from argv."""

from pathlib import Path

import pytest

from fanout.errors import InputError
from infra.cli.main import build_parser
from infra.cli.request_files import read_request_file
from infra.local.secrets import read_secret_flag


def test_the_value_comes_from_a_file_or_a_variable_without_its_trailing_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key").write_text("k-123\n")
    monkeypatch.setenv("FANOUT_TEST_KEY", "k-456")
    assert read_secret_flag(f"api-key=@{tmp_path / 'key'}") == ("api-key", "k-123")
    assert read_secret_flag("team/api-key=env:FANOUT_TEST_KEY") == ("team/api-key", "k-456")


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("api-key", "expected NAME=@FILE or NAME=env:VAR"),
        ("api-key=k-plain-value", "give the value as @FILE or env:VAR, never on the command line"),
        ("api key=@x", "a secret name is letters"),
        ("api-key=env:FANOUT_TEST_UNSET", "environment variable 'FANOUT_TEST_UNSET' is not set"),
        ("api-key=@/nonexistent/key", "cannot read /nonexistent/key: FileNotFoundError"),
    ],
)
def test_a_bad_flag_is_one_line_that_never_repeats_a_value(flag: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as raised:
        read_secret_flag(flag)
    assert "k-plain-value" not in str(raised.value)


def test_an_empty_value_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(InputError, match="the value is empty"):
        read_secret_flag(f"api-key=@{tmp_path / 'empty'}")


def test_run_and_local_up_take_secrets(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("k-1")
    flag = f"api-key=@{tmp_path / 'key'}"
    run = build_parser().parse_args(["run", "f.csv", "--api-url", "http://127.0.0.1:9/x", "--secret", flag])
    up = build_parser().parse_args(["local", "up", "--api-url", "http://127.0.0.1:9/x", "--secret", flag])
    assert run.secret == up.secret == [("api-key", "k-1")]


def test_a_run_refuses_a_spec_whose_credential_would_travel_in_clear_text_or_lacks_its_secret(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("auth: {type: header, name: x-api-key, secret: api-key}\n")
    request = read_request_file(spec)
    request.check_auth("https://api.example.com/rows", {"api-key"})
    request.check_auth("http://127.0.0.1:8080/rows", {"api-key"})
    with pytest.raises(
        InputError, match=r"spec\.yaml: --api-url 'http://api\.example\.com/rows': auth \(header\)"
    ):
        request.check_auth("http://api.example.com/rows", {"api-key"})
    with pytest.raises(InputError, match="auth names secret api-key: give it with --secret api-key=@FILE"):
        request.check_auth("https://api.example.com/rows", set())
