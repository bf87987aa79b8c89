"""A multipart upload's completion waits long, and one answered NoSuchUpload is checked, not trusted."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber

from fanout.s3_objects import UploadGone, complete_upload, multipart_etag
from infra.local.endpoint import EMULATOR_CLIENT_CONFIG
from infra.ops.upload import COMPLETE_READ_TIMEOUT_S, completion_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

PART_MD5S = [hashlib.md5(bytes([n])).hexdigest() for n in range(3)]
PARTS: list[CompletedPartTypeDef] = [
    {"PartNumber": n + 1, "ETag": f'"{md5}"'} for n, md5 in enumerate(PART_MD5S)
]
COMPLETE_PARAMS = {
    "Bucket": "data",
    "Key": "incoming/a.csv",
    "UploadId": "u1",
    "MultipartUpload": {"Parts": PARTS},
}


def s3_client() -> S3Client:
    return boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


def test_the_completion_client_waits_long_and_keeps_the_sessions_other_settings() -> None:
    # GIVEN a session whose clients time out reads after 20 s (the local stack's)
    core = botocore.session.Session()
    core.set_default_client_config(EMULATOR_CLIENT_CONFIG)
    session = boto3.Session(region_name="us-east-1", botocore_session=core)
    # WHEN the completion's client is made from it
    config = completion_client(session).meta.config
    # THEN it waits COMPLETE_READ_TIMEOUT_S for an answer, and connects and retries as the session says
    assert config.read_timeout == COMPLETE_READ_TIMEOUT_S
    assert config.connect_timeout == EMULATOR_CLIENT_CONFIG.connect_timeout
    assert config.retries == EMULATOR_CLIENT_CONFIG.retries
    assert session.client("s3").meta.config.read_timeout == EMULATOR_CLIENT_CONFIG.read_timeout


def test_the_multipart_etag_is_the_md5_of_the_parts_md5s_and_their_count() -> None:
    joined = b"".join(bytes.fromhex(md5) for md5 in PART_MD5S)
    assert multipart_etag([part["ETag"] for part in PARTS]) == f'"{hashlib.md5(joined).hexdigest()}-3"'
    assert multipart_etag(PART_MD5S) == multipart_etag([part["ETag"] for part in PARTS])
    # A part encrypted with SSE-C or SSE-KMS has an ETag that is not its MD5: nothing to compare.
    assert multipart_etag(['"not-an-md5"']) is None
    assert multipart_etag(['"abcd"']) is None


def test_a_completion_answered_no_such_upload_is_done_when_the_object_is_the_parts() -> None:
    s3 = s3_client()
    expected = multipart_etag([part["ETag"] for part in PARTS])
    with Stubber(s3) as stub:
        # GIVEN a completion whose first attempt completed the upload, its answer lost
        stub.add_client_error("complete_multipart_upload", "NoSuchUpload", expected_params=COMPLETE_PARAMS)
        stub.add_response(
            "head_object",
            {"ETag": str(expected), "VersionId": "v7"},
            {"Bucket": "data", "Key": "incoming/a.csv"},
        )
        # WHEN it is completed
        made = complete_upload(s3, "data", "incoming/a.csv", "u1", PARTS)
    # THEN the object there, which these parts make, is the upload's
    assert made == ("v7", expected)


@pytest.mark.parametrize(
    "head_etag", ['"0123456789abcdef0123456789abcdef-3"', '"d41d8cd98f00b204e9800998ecf8427e"']
)
def test_a_completion_answered_no_such_upload_fails_when_the_object_is_another(head_etag: str) -> None:
    s3 = s3_client()
    with Stubber(s3) as stub:
        stub.add_client_error("complete_multipart_upload", "NoSuchUpload", expected_params=COMPLETE_PARAMS)
        stub.add_response("head_object", {"ETag": head_etag, "VersionId": "v8"})
        with pytest.raises(UploadGone, match="upload u1 is gone"):
            complete_upload(s3, "data", "incoming/a.csv", "u1", PARTS)


def test_a_completion_answered_no_such_upload_fails_when_there_is_no_object() -> None:
    s3 = s3_client()
    with Stubber(s3) as stub:
        stub.add_client_error("complete_multipart_upload", "NoSuchUpload", expected_params=COMPLETE_PARAMS)
        stub.add_client_error("head_object", "404", http_status_code=404)
        with pytest.raises(UploadGone):
            complete_upload(s3, "data", "incoming/a.csv", "u1", PARTS)


def test_another_completion_error_is_raised_as_it_came() -> None:
    s3 = s3_client()
    with Stubber(s3) as stub:
        stub.add_client_error("complete_multipart_upload", "InvalidPart", http_status_code=400)
        with pytest.raises(s3.exceptions.ClientError, match="InvalidPart"):
            complete_upload(s3, "data", "incoming/a.csv", "u1", PARTS)
