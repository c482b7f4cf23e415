"""Sending outbox items to the team's endpoint over HTTPS, with retries and backoff.

The protocol (what a team's endpoint implements):

* ``POST <endpoint>`` with the item's JSON payload, ``Content-Type: application/json``,
  ``Authorization: Bearer <token>`` and ``Idempotency-Key: <key>``. The key stays the same for
  every retry of the same item, so an endpoint that stored a record whose answer got lost
  recognises the retry and does not store it twice.
* The endpoint acknowledges with a 2xx status and a JSON object whose ``idempotency_key`` is the
  key it stored (a replayed request gets the same answer). Anything else is not an
  acknowledgement: a 2xx with another body (a captive portal, a proxy page) is retried.
* 408, 409 (the same key is still being processed), 425, 429 and 5xx, network errors and
  timeouts are retried with exponential backoff (``Retry-After`` is honoured). 401/403 (token
  refused) and other 4xx are held with the endpoint's reason until the user retries them.

Redirects are not followed: the token must never go to a place the user did not name. Plain
``http://`` is accepted only for this computer (``localhost``, ``127.0.0.1``, ``::1``).
"""

from __future__ import annotations

import email.utils
import json
import random
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from desktop.config.feedback import check_endpoint
from desktop.feedback.outbox import Outbox
from desktop.feedback.records import OutboxItem

USER_AGENT = "Parley feedback submitter/1"
_RETRY_STATUSES = (408, 409, 425, 429)
_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """Delay before attempt ``n + 1`` after ``n`` failures: ``base * factor**(n-1)``, at most
    ``maximum``, spread by ±``jitter`` so many clients do not retry in step."""

    base_s: float = 10.0
    factor: float = 2.0
    maximum_s: float = 3600.0
    jitter: float = 0.2

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        raw = min(self.maximum_s, self.base_s * self.factor ** max(0, failures - 1))
        spread = (rng or random).uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        return max(0.0, raw * (1.0 + spread))


@dataclass(frozen=True)
class Delivery:
    """What became of one attempt."""

    outcome: Literal["sent", "retry", "held"]
    status: int | None
    reason: str
    retry_after_s: float | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 3xx response then surfaces as an HTTPError


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _snippet(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip()
    text = " ".join(text.split())
    return text[:120] + ("…" if len(text) > 120 else "")


def _server_reason(body: bytes) -> str:
    """The endpoint's own explanation when it sent one (``{"error": "..."}``)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _snippet(body)
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])[:200]
    return _snippet(body)


class HttpSubmitter:
    """Posts one payload; never raises for anything the network or the endpoint does."""

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        timeout_s: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        reason = check_endpoint(endpoint)
        if reason is not None or not endpoint:
            raise ValueError(f"submission endpoint {endpoint!r} {reason or 'is not set'}")
        self.endpoint = endpoint
        self._token = token
        self.timeout_s = timeout_s
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if ssl_context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=ssl_context))
        # No ProxyHandler from the environment is removed: a team's proxy settings apply.
        self._opener = urllib.request.build_opener(*handlers)

    def send(self, key: str, payload: dict[str, object]) -> Delivery:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        request = urllib.request.Request(
            self.endpoint,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self._token}",
                "Idempotency-Key": key,
                "User-Agent": USER_AGENT,
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                status = int(response.status)
                answer = response.read(_MAX_BODY)
        except urllib.error.HTTPError as error:
            with error:
                answer = error.read(_MAX_BODY) if error.fp is not None else b""
            return self._refused(error.code, error.reason, answer, error.headers.get("Retry-After"))
        except TimeoutError:
            return Delivery(
                "retry", None, f"The endpoint did not answer within {self.timeout_s:g} s."
            )
        except urllib.error.URLError as error:
            cause = error.reason
            if isinstance(cause, ssl.SSLCertVerificationError):
                return Delivery(
                    "held",
                    None,
                    f"The endpoint's certificate is not trusted ({cause.verify_message}).",
                )
            if isinstance(cause, TimeoutError | socket.timeout):
                return Delivery(
                    "retry", None, f"The endpoint did not answer within {self.timeout_s:g} s."
                )
            return Delivery("retry", None, f"Cannot reach the endpoint ({cause}).")
        except (OSError, ValueError) as error:
            # Connection reset mid-answer, a malformed status line (http.client raises
            # subclasses of these): the endpoint may or may not have the record; the same
            # idempotency key makes the retry safe.
            return Delivery("retry", None, f"The connection to the endpoint failed ({error}).")
        return self._acknowledged(status, answer, key)

    @staticmethod
    def _acknowledged(status: int, answer: bytes, key: str) -> Delivery:
        try:
            data = json.loads(answer.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None
        if isinstance(data, dict) and data.get("idempotency_key") == key:
            return Delivery("sent", status, "")
        return Delivery(
            "retry",
            status,
            f"The endpoint answered {status} but did not acknowledge the record "
            f"(answer: {_snippet(answer) or 'empty'}).",
        )

    @staticmethod
    def _refused(status: int, phrase: str, answer: bytes, retry_after: str | None) -> Delivery:
        why = _server_reason(answer)
        detail = f": {why}" if why else ""
        if status in _RETRY_STATUSES or status >= 500:
            return Delivery(
                "retry",
                status,
                f"The endpoint answered {status} ({phrase}){detail}.",
                _retry_after(retry_after),
            )
        if status in (401, 403):
            return Delivery(
                "held",
                status,
                f"The endpoint refused the API token ({status} {phrase}){detail}. "
                "Set a new token, then retry.",
            )
        if 300 <= status < 400:
            return Delivery(
                "held",
                status,
                f"The endpoint redirects ({status}); enter its final address in the settings.",
            )
        return Delivery(
            "held", status, f"The endpoint refused the record ({status} {phrase}){detail}."
        )


@dataclass
class SendReport:
    """What one pass over the outbox did."""

    sent: int = 0
    retrying: int = 0
    held: int = 0
    waiting_reason: str = ""
    """Set when nothing could be attempted (no endpoint, no token)."""
    errors: list[str] = field(default_factory=list)
    token_refused: bool = False


class OutboxSender:
    """Sends the items that are due, one at a time, and records each outcome in the outbox.

    Runs on a worker thread with its own :class:`Outbox` connection; ``cancelled`` is checked
    between items."""

    def __init__(
        self,
        outbox: Outbox,
        submitter: HttpSubmitter | None,
        *,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.submitter = submitter
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()
        self.clock = clock

    def send_due(
        self, cancelled: Callable[[], bool] = lambda: False, waiting_reason: str = ""
    ) -> SendReport:
        report = SendReport()
        due = self.outbox.due(self.clock())
        if not due:
            return report
        if self.submitter is None:
            report.waiting_reason = waiting_reason or "Submission is not set up."
            self.outbox.note([i.id for i in due], report.waiting_reason)
            return report
        for n, item in enumerate(due):
            if cancelled():
                break
            retry_at = self._send_one(item, report)
            if report.token_refused:
                # Every other item would be refused the same way: hold them all until the user
                # sets a new token (no attempt is counted for them).
                rest = [i.id for i in due[n + 1 :]]
                self.outbox.hold(rest, report.errors[-1])
                break
            if retry_at is not None:
                # The endpoint is down, slow or overloaded: the rest wait for the same moment
                # instead of each running into the same failure (no attempt is counted).
                rest = [i.id for i in due[n + 1 :]]
                self.outbox.postpone(rest, retry_at, f"Waiting: {report.errors[-1]}")
                break
        return report

    def _send_one(self, item: OutboxItem, report: SendReport) -> float | None:
        """Send one item; returns when to retry if the endpoint could not take it now."""
        assert self.submitter is not None
        if not self.outbox.begin_attempt(item):
            return None  # changed or withdrawn since it was read: its new state is what counts
        delivery = self.submitter.send(item.idempotency_key, item.payload)
        if delivery.outcome == "sent":
            self.outbox.mark_sent(item, delivery.status or 200)
            report.sent += 1
            return None
        if delivery.outcome == "held":
            self.outbox.mark_held(item, delivery.reason, delivery.status)
            report.held += 1
            report.token_refused = delivery.status in (401, 403)
            report.errors.append(delivery.reason)
            return None
        delay = self.policy.delay(item.attempts + 1, self.rng)  # as read: before this one
        if delivery.retry_after_s is not None:
            delay = min(self.policy.maximum_s, max(delay, delivery.retry_after_s))
        retry_at = self.clock() + delay
        self.outbox.mark_retry(item, delivery.reason, delivery.status, retry_at)
        report.retrying += 1
        report.errors.append(delivery.reason)
        return retry_at
