"""Prometheus metrics, served as text on ``GET /metrics`` (prometheus-client).

One ``Metrics`` object (its own registry: no import-time global state) is built by the
composition root and passed to the parts that count. Labels are bounded: outcomes, kinds,
platforms, severities, Slack method names and network endpoints with ids replaced — never a
case id, a user id or a text.

Each replica serves its own counters (sum them); the queue gauges are read from Redis at
scrape time and are the same on every replica (take the max).

The series the README's alert rules read with ``increase()`` exist from the start, at 0
(publish outcomes; every job kind and outcome): Prometheus cannot see the first increment of
a series that appears with it, so a series created at its first failure would hide the first
failure of every replica since its start.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

if TYPE_CHECKING:
    from assistant.cases import IngestOutcome
    from assistant.models import Mention
    from assistant.scoring import Scorer

JOB_OUTCOMES = ("done", "again", "retry", "throttled", "gave_up")
PUBLISH_OUTCOMES = ("published", "failed")
_ID = re.compile(r"/(?:\d+|[0-9A-Za-z_-]{16,})(?=/|$)")  # numeric or long opaque path segments
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Children:
    """A labelled metric's children, looked up once per label values: ``labels()`` validates
    and locks on every call (a few µs on the ingest path), a dict lookup does not. Label values
    are bounded (see above), so is this cache."""

    def __init__(self, metric: Counter) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Counter] = {}

    def __call__(self, *values: str) -> Counter:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


def endpoint(url: str, slack_api_url: str) -> tuple[str, str]:
    """(service, bounded endpoint) of an outgoing HTTP call: Slack's Web API method name, or
    the network's path with ids replaced by ``:id``."""
    if url.startswith(slack_api_url):
        return "slack", url[len(slack_api_url) :].split("?", 1)[0].strip("/") or "/"
    path = "/" + url.split("://", 1)[-1].partition("/")[2].split("?", 1)[0]
    return "network", _ID.sub("/:id", path)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.mentions = Counter(
            "coa_mentions_ingested",
            "Mentions ingested, by outcome (opened, not_hostile, duplicate) and platform",
            ["outcome", "platform"],
            registry=r,
        )
        self.cases_opened = Counter(
            "coa_cases_opened", "Cases opened, by platform and severity", ["platform", "severity"],
            registry=r,
        )  # fmt: skip
        self.mentions_by = Children(self.mentions)  # (outcome, platform)
        self.cases_opened_by = Children(self.cases_opened)  # (platform, severity)
        self.proposals = Counter(
            "coa_proposals", "Proposal events, by outcome (added, edited, withdrawn, …)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.votes = Counter(
            "coa_votes",
            "Vote events, by outcome: recorded, approved (counted); duplicate, self, closed, "
            "inactive, unknown (ignored)",
            ["outcome"],
            registry=r,
        )
        self.decisions = Counter("coa_decisions", "Cases approved by the quorum", registry=r)
        self.publishes = Counter(
            "coa_publishes", "Publish outcomes recorded (published, failed)", ["outcome"],
            registry=r,
        )  # fmt: skip
        self.decide_to_publish = Histogram(
            "coa_decide_to_publish_seconds", "From the deciding vote to the recorded publish",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.escalations = Counter("coa_escalations", "Escalations to on-call", registry=r)
        self.job_runs = Counter(
            "coa_job_runs", "Job runs by kind and outcome (done, again, retry, throttled, gave_up)",
            ["kind", "outcome"], registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "coa_jobs_queued", "Jobs in the queue (due, scheduled or running)", registry=r
        )
        self.queue_lag = Gauge(
            "coa_jobs_oldest_due_lag_seconds",
            "How long the oldest due, unclaimed job has waited (0: none waiting)",
            registry=r,
        )
        self.posts_read = Gauge(
            "coa_network_posts_read",
            "Posts read from the network this month (UTC), all replicas together: X bills "
            "reads per post (see X_MONTHLY_READ_BUDGET); only X counts them",
            ["platform"],
            registry=r,
        )
        self.api_calls = Counter(
            "coa_api_calls",
            "HTTP calls to Slack and the networks, by service, endpoint and status (429 = "
            "rate limited; error = no answer)",
            ["service", "endpoint", "status"],
            registry=r,
        )
        for outcome in PUBLISH_OUTCOMES:
            self.publishes.labels(outcome)
        self.scorer_seconds = Histogram(
            "coa_scorer_seconds", "Time to score one mention",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5), registry=r,
        )  # fmt: skip

    def job_kinds(self, kinds: Iterable[str]) -> None:
        """Create every (kind, outcome) series of ``coa_job_runs_total`` at 0 (see the module's
        docstring): called by the job runner with its handlers' kinds when it starts."""
        for kind in (*kinds, "unknown"):
            for outcome in JOB_OUTCOMES:
                self.job_runs.labels(kind, outcome)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # -- non-intrusive wrappers, applied by the composition root -------------------------

    def counted_ingest(
        self, ingest: Callable[[Mention], Awaitable[IngestOutcome]]
    ) -> Callable[[Mention], Awaitable[IngestOutcome]]:
        async def counted(mention: Mention) -> IngestOutcome:
            outcome = await ingest(mention)
            self.mentions_by(outcome.status, mention.platform).inc()
            return outcome

        return counted

    def timed_scorer(self, **settings: Any) -> Scorer:
        """A Scorer built with ``settings`` whose ``score`` is timed."""
        from assistant.scoring import Assessment, Scorer

        histogram = self.scorer_seconds

        class TimedScorer(Scorer):
            def score(self, text: str, lang: str | None = None) -> Assessment:
                started = time.perf_counter()
                try:
                    return super().score(text, lang)
                finally:
                    histogram.observe(time.perf_counter() - started)

        return TimedScorer(**settings)

    def http_trace(self, slack_api_url: str) -> aiohttp.TraceConfig:
        """Counts every HTTP attempt of the shared aiohttp session (retries included)."""
        trace = aiohttp.TraceConfig()

        async def on_end(
            _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestEndParams
        ) -> None:
            service, name = endpoint(str(params.url), slack_api_url)
            self.api_calls.labels(service, name, str(params.response.status)).inc()

        async def on_error(
            _: aiohttp.ClientSession,
            __: SimpleNamespace,
            params: aiohttp.TraceRequestExceptionParams,
        ) -> None:
            service, name = endpoint(str(params.url), slack_api_url)
            self.api_calls.labels(service, name, "error").inc()

        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_error)
        return trace
