"""The emulator keeps HTTP connections open between calls, and every answer stays whole."""

from __future__ import annotations

import http.client
import io
import socket
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.local.emulator import Emulator
from infra.local.emulator_speedups import RequestBody

_LIST_QUEUES = "Action=ListQueues&Version=2012-11-05"
_HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded",
    "Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/sqs/aws4_request, "
    "SignedHeaders=host, Signature=x",
}


def _connection(emulator: Emulator) -> http.client.HTTPConnection:
    address = urlsplit(emulator.endpoint_url)
    return http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)


def test_one_connection_serves_call_after_call(emulator: Emulator) -> None:
    connection = _connection(emulator)
    sockets = []
    for _ in range(3):
        connection.request("POST", "/", body=_LIST_QUEUES, headers=_HEADERS)
        response = connection.getresponse()
        assert response.status == 200 and b"ListQueuesResponse" in response.read()
        assert response.getheader("Connection") is None
        assert connection.sock is not None
        sockets.append(connection.sock)
    assert sockets[0] is sockets[1] is sockets[2]


def test_a_client_that_asks_to_close_is_answered_and_closed(emulator: Emulator) -> None:
    connection = _connection(emulator)
    connection.request("POST", "/", body=_LIST_QUEUES, headers={**_HEADERS, "Connection": "close"})
    response = connection.getresponse()
    assert response.status == 200 and b"ListQueuesResponse" in response.read()
    assert response.getheader("Connection") == "close"


def test_a_chunked_request_is_answered_and_its_connection_closed(emulator: Emulator) -> None:
    address = urlsplit(emulator.endpoint_url)
    body = _LIST_QUEUES.encode()
    head = (
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in _HEADERS.items())
        + "\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(head.encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        answer = b""
        while chunk := raw.recv(65536):  # the server closes: the loop ends
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b"Connection: close" in answer
    assert b"ListQueuesResponse" in answer


def test_objects_large_and_empty_come_back_whole_over_kept_connections(session: boto3.Session) -> None:
    s3 = session.client("s3")
    s3.create_bucket(Bucket="kept")
    # Over a megabyte botocore sends `Expect: 100-continue` and waits for the go-ahead.
    large = bytes(range(256)) * 8192
    s3.put_object(Bucket="kept", Key="large", Body=large)
    s3.put_object(Bucket="kept", Key="empty", Body=b"")
    for _ in range(2):
        assert s3.head_object(Bucket="kept", Key="large")["ContentLength"] == len(large)
        assert s3.get_object(Bucket="kept", Key="large")["Body"].read() == large
        assert s3.get_object(Bucket="kept", Key="empty")["Body"].read() == b""
        ranged = s3.get_object(Bucket="kept", Key="large", Range="bytes=10-19")["Body"].read()
        assert ranged == large[10:20]
        assert s3.list_objects_v2(Bucket="kept")["KeyCount"] == 2


def test_what_the_application_leaves_of_a_body_is_read_off_and_no_further() -> None:
    stream = io.BufferedReader(io.BytesIO(b"0123456789NEXT REQUEST"))  # type: ignore[arg-type]
    body = RequestBody(stream, 10)
    assert body.read(4) == b"0123"
    body.drain()
    assert body.read() == b""
    assert stream.read() == b"NEXT REQUEST"


def test_what_the_emulator_does_not_implement_is_a_server_error_not_a_dropped_connection(
    session: boto3.Session,
) -> None:
    sqs = session.client("sqs")
    source = sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName="from")["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    # moto raises NotImplementedError for StartMessageMoveTask (the redrive falls back on it)
    with pytest.raises(ClientError):
        sqs.start_message_move_task(SourceArn=source)
    assert sqs.list_queues()["QueueUrls"]  # and the next call is answered
