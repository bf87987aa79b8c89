"""What each work message's rows are sent with: its pinned spec bound to its columns, and the
authenticator its calls carry.

Built once per spec version and column set per execution environment (a job's messages share
one), so rendering a row costs no parsing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from fanout.contract import RequestRef, WorkMessage
from fanout.errors import InputError
from fanout.rendering import Endpoint, RequestRenderer
from fanout.request_spec import DEFAULT_REQUEST
from fanout.request_store import RequestStore
from worker.auth import Authenticator
from worker.authenticators import Authenticators


@dataclass(frozen=True)
class Sending:
    renderer: RequestRenderer
    auth: Authenticator | None


class Renderers:
    def __init__(
        self,
        store: RequestStore,
        endpoint: Endpoint,
        authenticators: Authenticators | None = None,
        stack_auth: Authenticator | None = None,
    ) -> None:
        self._store = store
        self._endpoint = endpoint
        self._authenticators = authenticators
        self._stack_auth = stack_auth  # ApiAuthSecretArn's, for calls to the API URL's origin
        self._lock = threading.Lock()
        self._built: dict[tuple[RequestRef | None, tuple[str, ...]], Sending] = {}

    def for_message(self, message: WorkMessage) -> Sending:
        """PermanentError if its spec is gone or does not fit; RetryableError if it cannot be read now."""
        key = (message.request, message.columns)
        with self._lock:
            sending = self._built.get(key)
        if sending is not None:
            return sending
        spec = DEFAULT_REQUEST if message.request is None else self._store.load(message.request)
        try:
            renderer = RequestRenderer(spec, message.columns, self._endpoint)
        except InputError as exc:
            raise InputError(f"request spec {message.request}: {exc}") from None
        sending = Sending(renderer, self._auth_for(renderer))
        with self._lock:
            self._built[key] = sending
        return sending

    def _auth_for(self, renderer: RequestRenderer) -> Authenticator | None:
        spec_auth = renderer.spec.auth
        if spec_auth is not None and self._authenticators is not None:
            return self._authenticators.for_spec(spec_auth, renderer.origin.prefix + "/")
        # The stack's credential goes to the API URL's origin only, never to another host a spec names.
        return self._stack_auth if renderer.origin == self._endpoint.origin else None
