"""Where moto's server spends its CPU on work that answers nothing, and the shortcuts.

On one machine the emulator shares the CPU with the workers it serves, so CPU it wastes is
throughput the workers lose. Each shortcut keeps moto's answers exactly as they were; only the
cost changes. Found with py-spy on the emulator during a budgeted 400 calls/s run (bench/README.md):
the emulator used 88% of a core, and most of it went to the three places below.
"""

from __future__ import annotations

import datetime
import functools
import io
import itertools
import logging
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from infra.local.moto_patches import MotoPatchError, install, moto_version, original

# The distinct update expressions kept parsed (Fanout writes a handful; others may come and go).
UPDATE_EXPRESSIONS_KEPT = 256
# A kept-alive connection nobody has used for this long is closed, and its thread ends. botocore
# finds such a connection dropped and opens another; a long poll (20 s at most) is not idle.
IDLE_CONNECTION_TIMEOUT_S = 300.0


def apply_speedups() -> None:
    _sqs_clock_without_datetime()
    _moto_modules_listed_once()
    _request_log_off()
    _update_expressions_parsed_once()
    _retention_period_read_directly()
    _queue_counted_in_one_clock_read()
    _metrics_found_by_name()
    _regions_from_the_served_model()
    _connections_kept_alive()


def _sqs_clock_without_datetime() -> None:
    """SQS checks each message's visibility and delay against the clock on every receive and
    every attribute read (three passes over the queue for ApproximateNumberOf*), and moto reads
    the clock as `utcnow() - utcfromtimestamp(0)` through datetime objects: 25% of the samples.
    "Now" in seconds since the epoch is `time.time()`; a given datetime still goes the long way.
    """
    from moto.sqs import models

    counts = ("delayed", "not_visible", "")
    names = [f"approximate_number_of_messages{'_' if count else ''}{count}" for count in counts]
    for name in names:
        original("queue_counted_in_one_clock_read", models.Queue, name, ("self",))

    def fast(original: Callable[..., float], scale: float) -> Callable[..., float]:
        @functools.wraps(original)
        def now_or_given(dt: datetime.datetime | None = None) -> float:
            return time.time() * scale if dt is None else original(dt)

        return now_or_given

    clocks = {
        name: original("sqs_clock_without_datetime", models, name, ("dt",))
        for name in ("unix_time", "unix_time_millis")
    }
    for name, scale in (("unix_time", 1.0), ("unix_time_millis", 1000.0)):
        install(models, name, fast(clocks[name], scale))


def _moto_modules_listed_once() -> None:
    """Every request is routed by checking its host against moto's modules, which moto finds by
    listing its package directory and stat-ing each entry, per request (8% of the samples, and
    under the router's lock). The package does not change while the server runs.
    """
    from moto import backends

    modules = tuple(original("moto_modules_listed_once", backends, "list_of_moto_modules", ())())
    install(backends, "list_of_moto_modules", lambda: modules)


def _request_log_off() -> None:
    """werkzeug logs a line per request to the emulator's stderr, which nobody reads."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _update_expressions_parsed_once() -> None:
    """moto parses an UpdateExpression into a syntax tree twice per item written (once to check
    the attribute names, once to apply it) and every ledger write sends the same few strings
    with new values: parsing was a quarter of a transaction's samples at C = 64 (bench/README.md).
    The tree holds placeholders, not values, and moto's validator works on a deep copy of it,
    so one parsed tree serves every write of the same expression.
    """
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    make = original("update_expressions_parsed_once", UpdateExpressionParser, "make", ("expression_str",))
    parse = functools.lru_cache(maxsize=UPDATE_EXPRESSIONS_KEPT)(make)
    install(UpdateExpressionParser, "make", staticmethod(parse))


def _retention_period_read_directly() -> None:
    """Before returning each message, moto checks it against the queue's retention period, which
    it reads through `get_queue_attributes`: every attribute computed, ApproximateNumberOf*
    included, each a pass over the whole queue. A receive of 10 from a queue of 1,000 messages
    took 58 ms of the emulator's CPU (alone, no other load), and a worker waits for its receive
    before each invocation. The period is a field of the queue.
    """
    from moto.sqs.models import Message, SQSBackend

    name = "is_message_valid_based_on_retention_period"
    original("retention_period_read_directly", SQSBackend, name, ("self", "queue_name", "message"))

    def valid(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period  # type: ignore[attr-defined]
        return bool(retention_period + message.sent_timestamp / 1000 > time.time())  # type: ignore[operator]

    install(SQSBackend, name, valid)


def _queue_counted_in_one_clock_read() -> None:
    """moto computes every queue attribute for each message sent (to read one FIFO setting), and
    ApproximateNumberOfMessages, ...Delayed and ...NotVisible are each a pass over the queue that
    reads the clock for every message: with 1,000 messages queued, 44% of the emulator's time
    while the splitter alone sent, and the split slowed as the queue grew. The same counts, with
    the clock read once per pass.
    """
    from moto.sqs import models

    counts = ("delayed", "not_visible", "")
    names = [f"approximate_number_of_messages{'_' if count else ''}{count}" for count in counts]
    for name in names:
        original("queue_counted_in_one_clock_read", models.Queue, name, ("self",))

    def delayed(self: models.Queue) -> int:
        now = models.unix_time_millis()  # type: ignore[attr-defined]
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible(self: models.Queue) -> int:
        now = models.unix_time_millis()  # type: ignore[attr-defined]
        return sum(1 for m in self._messages if not now > m.visible_at)

    def available(self: models.Queue) -> int:
        now = models.unix_time_millis()  # type: ignore[attr-defined]
        return sum(1 for m in self._messages if now > m.visible_at and not now < m.delayed_until)

    for name, count in zip(names, (delayed, not_visible, available), strict=True):
        install(models.Queue, name, property(count))


class MetricIndex:
    """A CloudWatch backend's metric data by (namespace, name), brought up to date as it is read.

    moto only ever appends to its list of metric data (a reset makes a new backend).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: list[Any] | None = None
        self._seen = 0
        self._by_name: dict[tuple[str, str], list[Any]] = {}
        # The same data by (namespace, name) and then by the datum's set of dimensions: a query
        # names a few dimensions, and a histogram's buckets or a metric per function are many
        # datums of few dimension sets.
        self._by_dimensions: dict[tuple[str, str], dict[frozenset[tuple[str, str]], list[Any]]] = {}

    def named(self, data: list[Any], namespace: str, name: str) -> list[Any]:
        with self._lock:
            self._catch_up(data)
            return list(self._by_name.get((namespace, name), ()))

    def having(
        self, data: list[Any], namespace: str, name: str, dimensions: Iterable[tuple[str, str]]
    ) -> list[Any]:
        """The data of that name whose dimensions include every one of `dimensions`, as moto's
        `MetricDatumBase.filter` selects them (in the order they were put within each set)."""
        wanted = frozenset(dimensions)
        with self._lock:
            self._catch_up(data)
            groups = self._by_dimensions.get((namespace, name), {})
            return [datum for key, group in groups.items() if _covers(key, wanted) for datum in group]

    def _catch_up(self, data: list[Any]) -> None:
        if data is not self._data or len(data) < self._seen:
            self._data, self._seen, self._by_name, self._by_dimensions = data, 0, {}, {}
        for datum in data[self._seen :]:
            named = (datum.namespace, datum.name)
            self._by_name.setdefault(named, []).append(datum)
            key = frozenset((d.name, d.value) for d in datum.dimensions)
            self._by_dimensions.setdefault(named, {}).setdefault(key, []).append(datum)
        self._seen = len(data)


def _covers(key: frozenset[tuple[str, str]], wanted: frozenset[tuple[str, str]]) -> bool:
    """Whether a datum with dimensions `key` has every one `wanted`, as moto's `Dimension`
    compares them (a dimension without a value matches any value of its name)."""
    if wanted <= key:
        return True
    unvalued = {name for name, value in key if value is None}
    return all(pair in key or pair[0] in unvalued for pair in wanted)


class _NamedMetrics:
    """A backend as moto's own query code sees it: only the data of the metric asked for."""

    def __init__(self, backend: Any, data: list[Any]) -> None:
        self._backend = backend
        self._data = data

    def get_all_metrics(self) -> list[Any]:
        return self._data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def _metrics_found_by_name() -> None:
    """GetMetricStatistics and ListMetrics go through all the metric data the emulator holds, and
    ListMetrics compares each datum with every metric it found before (moto's duplicate check
    never matches two dimensions or more, so for them the list only grows): after a 430k-row run,
    keeping the dashboard (hundreds of such calls) ran past the client's read timeout. The local
    dashboard and alarms always name the namespace and the metric; moto's own code then reads
    the data of that name only, from an index, and ListMetrics' duplicate check is a set lookup
    that keeps moto's answer (same order, same duplicates dropped). moto's computed metrics
    (AWS/S3, from its buckets) take moto's path as before.
    """
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.core.common_models import CloudWatchMetricProvider

    patch = "metrics_found_by_name"
    statistics = original(
        patch,
        CloudWatchBackend,
        "get_metric_statistics",
        (
            "self",
            "namespace",
            "metric_name",
            "start_time",
            "end_time",
            "period",
            "stats",
            "dimensions",
            "unit",
        ),
    )
    filtered = original(
        patch, CloudWatchBackend, "get_filtered_metrics", ("self", "metric_name", "namespace", "dimensions")
    )
    original(patch, CloudWatchBackend, "get_all_metrics", ("self",))
    providers = {provider.__name__ for provider in CloudWatchMetricProvider.__subclasses__()}
    if not providers <= {"S3Backend"}:
        raise MotoPatchError(
            f"emulator patch {patch}: moto {moto_version()} computes metrics in {sorted(providers)}"
        )
    indexes: weakref.WeakKeyDictionary[Any, MetricIndex] = weakref.WeakKeyDictionary()

    def named(backend: Any, namespace: str | None, name: str | None) -> _NamedMetrics | None:
        if not namespace or not name or namespace == "AWS/S3":
            return None
        index = indexes.setdefault(backend, MetricIndex())
        return _NamedMetrics(backend, index.named(backend.metric_data, namespace, name))

    def get_metric_statistics(
        self: Any,
        namespace: str,
        metric_name: str,
        start_time: Any,
        end_time: Any,
        period: int,
        stats: list[str],
        dimensions: list[dict[str, str]],
        unit: str | None = None,
    ) -> Any:
        view = named(self, namespace, metric_name)
        if view is None or any(d.get("Value") is None for d in dimensions):
            view, given = view or self, dimensions
        else:
            # Only the datums with these dimensions, found by their set; moto's filter, which
            # compares each datum's dimensions one by one, then has nothing left to drop.
            pairs = [(d["Name"], d["Value"]) for d in dimensions]
            index = indexes.setdefault(self, MetricIndex())
            view, given = (
                _NamedMetrics(self, index.having(self.metric_data, namespace, metric_name, pairs)),
                [],
            )
        return statistics(view, namespace, metric_name, start_time, end_time, period, stats, given, unit)

    def get_filtered_metrics(
        self: Any, metric_name: str | None, namespace: str | None, dimensions: list[dict[str, str]]
    ) -> list[Any]:
        view = named(self, namespace, metric_name)
        if view is None:
            return filtered(self, metric_name, namespace, dimensions)  # type: ignore[no-any-return]
        return first_of_each(view.get_all_metrics(), dimensions)

    install(CloudWatchBackend, "get_metric_statistics", get_metric_statistics)
    install(CloudWatchBackend, "get_filtered_metrics", get_filtered_metrics)


def first_of_each(data: Iterable[Any], dimensions: list[dict[str, str]]) -> list[Any]:
    """moto's ListMetrics filter over data of one name: `MetricDatumBase.filter` with the metrics
    found so far, whose duplicate check (`are_dimensions_same`) holds only between dimension
    lists of one length whose every entry is the same name and value."""
    kept: list[Any] = []
    seen: set[tuple[int, str | None, str | None]] = set()
    for datum in data:
        pairs = {(d.name, d.value) for d in datum.dimensions}
        key = (len(datum.dimensions), *next(iter(pairs))) if len(pairs) == 1 else None
        if key is not None and key in seen:
            continue
        if not datum.filter(None, None, dimensions):
            continue
        if key is not None:
            seen.add(key)
        kept.append(datum)
    return kept


def _regions_from_the_served_model() -> None:
    """moto makes a service's backend on the service's first request, with the service's regions,
    which it asks botocore for; botocore reads the service's whole model (every operation, up to
    megabytes of JSON) for one field of it, the endpoint prefix, though moto reads the same model
    to serve the request. The first CreateFunction took 1.1 s of the emulator's CPU for it (load
    5), and every service the local stack creates paid once. The same list, from moto's model.
    """
    from moto.core.base_backend import AccountSpecificBackend
    from moto.core.utils import get_service_model

    original(
        "regions_from_the_served_model", AccountSpecificBackend, "_generate_regions", ("self", "service_name")
    )

    @functools.lru_cache  # as moto's: once per backend and service
    def regions(self: Any, service_name: str) -> list[str]:
        return service_regions(AccountSpecificBackend.get_session(), service_name, get_service_model)

    install(AccountSpecificBackend, "_generate_regions", regions)


def service_regions(session: Any, service_name: str, model: Callable[[str], Any]) -> list[str]:
    """boto3's `get_available_regions` of every partition, with the endpoint prefix from `model`
    (botocore reads it from the service's model, and lists nothing for a service it does not know)."""
    from botocore.exceptions import UnknownServiceError

    try:
        prefix = model(service_name).metadata.get("endpointPrefix", service_name)
    except UnknownServiceError:
        return []
    resolver = session._session._get_internal_component("endpoint_resolver")
    found: list[str] = []
    for partition in session.get_available_partitions():
        found.extend(resolver.get_available_endpoints(prefix, partition, False))
    return found


class RequestBody(io.RawIOBase):
    """A request's body as the application reads it, and what it leaves, read off after it."""

    def __init__(self, stream: io.BufferedIOBase, length: int) -> None:
        super().__init__()
        self._stream = stream
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")[: self._left]
        if not view:
            return 0
        count = self._stream.readinto(view) or 0
        self._left -= count
        return count

    def drain(self) -> None:
        """Reads what the application left, so the connection's next request starts where it should."""
        while self._left and self.read(min(self._left, 64 * 1024)):
            pass


def _connections_kept_alive() -> None:
    """werkzeug's development server answers every request with `Connection: close` and then
    waits 10 ms for anything more on the socket to discard: it cannot tell where a body the
    application did not read ends. So each AWS call opened a TCP connection and the emulator a
    thread for it (botocore logs "Resetting dropped connection" on every call), at a worker's
    every receive, ledger read and write. This handler reads a body with a Content-Length to its
    end after the application has answered and keeps the connection; a chunked body, or a
    client that asks for `Connection: close`, still closes it.
    """
    from moto.moto_server import threaded_moto_server

    original("connections_kept_alive", threaded_moto_server, "MotoRequestHandler")
    install(threaded_moto_server, "MotoRequestHandler", keep_alive_handler())


def keep_alive_handler() -> type:
    """moto's request handler, running the application itself instead of werkzeug's `run_wsgi`."""
    from moto.moto_server import werkzeug_app

    patch = "connections_kept_alive"
    original(patch, werkzeug_app, "MotoRequestHandler")
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    # What the handler below overrides and calls of werkzeug's and http.server's.
    original(patch, MotoRequestHandler, "run_wsgi", ("self",))
    original(patch, MotoRequestHandler, "make_environ", ("self",))

    class KeepAliveRequestHandler(MotoRequestHandler):
        timeout = IDLE_CONNECTION_TIMEOUT_S
        protocol_version = "HTTP/1.1"
        # The headers and the body go out in two writes; on a kept connection, Nagle's algorithm
        # held the second until the client's delayed ACK: 40 ms a call.
        disable_nagle_algorithm = True

        def run_wsgi(self) -> None:
            # http.server has answered `Expect: 100-continue` already (parse_request).
            environ = self.make_environ()
            length = environ.get("CONTENT_LENGTH") or "0"
            body = None
            if environ.get("wsgi.input_terminated") or not length.isdigit():
                self.close_connection = True
            else:
                body = RequestBody(self.rfile, int(length))
                environ["wsgi.input"] = body
            try:
                status, headers, chunks = self._call(environ)
            except Exception:
                # As werkzeug does: moto raises for what it does not implement, and the client
                # gets a 500 to read (botocore: a ClientError), not a dropped connection.
                self.server.log("error", "Error on request:\n%s", traceback.format_exc())
                status, headers, chunks = "500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")], []
                self.close_connection = True
            try:
                self._send(status, headers, chunks)
            finally:
                if isinstance(chunks, _Body):
                    chunks.close()
            if body is not None and not self.close_connection:
                body.drain()

        def _call(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], list[bytes] | _Body]:
            """The application's answer: whole when it is one chunk (most of moto's answers),
            else its first two chunks and the rest to come (an S3 object read as it is sent)."""
            started: list[tuple[str, list[tuple[str, str]]]] = []
            early: list[bytes] = []

            def start_response(
                status: str, headers: list[tuple[str, str]], exc_info: Any = None
            ) -> Callable[[bytes], None]:
                started[:] = [(status, headers)]
                return early.append

            result = self.server.app(environ, start_response)
            body = _Body(result)
            try:
                head = [*early, *itertools.islice(body.rest, 2)]
            except BaseException:
                body.close()
                raise
            status, headers = started[0]
            if len(head) < 2 + len(early) or _declared_length(headers) is None:
                # One chunk, or a length the application did not declare: the answer whole.
                try:
                    whole = b"".join([*head, *body.rest])
                finally:
                    body.close()
                return status, headers, [whole]
            body.head = head
            return status, headers, body

        def _send(self, status: str, headers: list[tuple[str, str]], chunks: list[bytes] | _Body) -> None:
            code, _, reason = status.partition(" ")
            self.send_response(int(code), reason)
            head = self.command == "HEAD"
            for name, value in headers:
                # A HEAD answer's Content-Length is the object's; any other is the payload's.
                if name.lower() not in ("connection", "transfer-encoding") and not (
                    name.lower() == "content-length" and not head
                ):
                    self.send_header(name, value)
            length = _declared_length(headers) if isinstance(chunks, _Body) else sum(len(c) for c in chunks)
            if not head and not (100 <= int(code) < 200 or int(code) in (204, 304)):
                self.send_header("Content-Length", str(length))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if head:
                return
            # Once the status line is out, a body that fails can only end the connection short
            # of its length, which the client sees as a broken read (and botocore retries).
            keep, self.close_connection = self.close_connection, True
            for chunk in chunks:
                self.wfile.write(chunk)
            self.close_connection = keep

    return KeepAliveRequestHandler


class _Body:
    """An application's body sent as it comes: the chunks read ahead, the rest, and its close."""

    def __init__(self, result: Iterable[bytes]) -> None:
        self._result = result
        self.rest = iter(result)
        self.head: list[bytes] = []

    def __iter__(self) -> Iterator[bytes]:
        yield from self.head
        yield from self.rest

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            close()


def _declared_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length" and value.isdigit():
            return int(value)
    return None
