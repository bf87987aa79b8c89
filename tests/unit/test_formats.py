import pytest

from fanout.errors import InputError
from fanout.formats import CsvFormat
from infra.local.template import load_template


def test_a_files_metadata_overrides_the_stacks_format() -> None:
    base = CsvFormat()
    fmt = base.overridden_by({"fanout-delimiter": "semicolon", "fanout-encoding": "cp932", "other": "x"})
    assert (fmt.delimiter_char, fmt.encoding, fmt.quote_char) == (";", "cp932", '"')
    assert CsvFormat(delimiter="tab", quote="single").as_metadata()["fanout-delimiter"] == "tab"


@pytest.mark.parametrize(
    "change", [{"delimiter": "space"}, {"encoding": "utf-16"}, {"header": "maybe"}, {"quote": "`"}]
)
def test_unknown_format_settings_are_refused(change: dict[str, str]) -> None:
    with pytest.raises(InputError):
        CsvFormat(**change)


def test_the_templates_csv_defaults_are_the_formats_defaults() -> None:
    parameters = load_template()["Parameters"]
    default = CsvFormat()
    assert parameters["CsvDelimiter"]["Default"] == default.delimiter
    assert parameters["CsvQuote"]["Default"] == default.quote
    assert parameters["CsvEncoding"]["Default"] == default.encoding
    assert parameters["CsvHeader"]["Default"] == default.header


def test_describe_says_what_was_sniffed() -> None:
    assert CsvFormat().describe(";").startswith("delimiter=semicolon (sniffed)")
    assert CsvFormat(delimiter="tab").describe("\t").startswith("delimiter=tab ")
