"""GET /metrics: Prometheus text with what an SRE alerts on, labels bounded (no ids)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from prometheus_client.parser import text_string_to_metric_families

from assistant.metrics import endpoint
from assistant.sandbox import ALICE, BOB, MAX, Sandbox, webhook_body
from tests.e2e.helpers import open_case, propose, published, react

README = Path(__file__).resolve().parents[2] / "README.md"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(world: Sandbox) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with world.http.get(f"{world.base_url}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_the_loop_shows_in_the_metrics(world: Sandbox) -> None:
    world.slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Merci pour ce retour")
    await react(world, BOB, ts)
    await react(world, ALICE, ts)  # the proposer's own approval: ignored
    await react(world, MAX, ts)
    await published(world, case)
    calm = world.mastodon.add_mention("client@mastodon.social", "Merci pour votre aide !")
    await world.ingest(webhook_body(calm))
    await world.slack.drain()

    async def publish_job_settled() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        m = await scrape(world)
        return m if value(m, "coa_job_runs_total", kind="publish", outcome="done") else {}

    m = await world.wait_for(publish_job_settled, 5, "the publish job's run to be counted")
    severity = case.assessment.severity
    assert value(m, "coa_cases_opened_total", platform="mastodon", severity=severity) == 1
    assert value(m, "coa_mentions_ingested_total", outcome="opened", platform="mastodon") == 1
    assert value(m, "coa_mentions_ingested_total", outcome="not_hostile", platform="mastodon") == 1
    assert value(m, "coa_proposals_total", outcome="added") == 1
    assert value(m, "coa_votes_total", outcome="approved") == 1
    assert value(m, "coa_votes_total", outcome="recorded") == 1
    assert value(m, "coa_votes_total", outcome="self") == 1
    assert value(m, "coa_decisions_total") == 1
    assert value(m, "coa_publishes_total", outcome="published") == 1
    assert value(m, "coa_decide_to_publish_seconds_count") == 1
    assert value(m, "coa_job_runs_total", kind="publish", outcome="done") == 1
    assert value(m, "coa_api_calls_total", service="network", endpoint="/api/v1/statuses",
                 status="200") == 1  # fmt: skip
    assert value(m, "coa_api_calls_total", service="slack", endpoint="chat.postMessage",
                 status="429") == 1  # fmt: skip
    assert value(m, "coa_api_calls_total", service="slack", endpoint="chat.postMessage",
                 status="200") >= 1  # fmt: skip
    assert value(m, "coa_scorer_seconds_count") == 3  # two mentions, one proposal (tone check)
    assert value(m, "coa_jobs_queued") >= 8  # the sweeps, at least
    assert ("coa_jobs_oldest_due_lag_seconds", ()) in m


async def test_no_label_carries_an_id(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Réponse")
    await react(world, BOB, ts)
    async with world.http.get(f"{world.base_url}/metrics") as resp:
        text = await resp.text()
    labels = " ".join(re.findall(r"\{[^}]*\}", text))
    for secret_or_id in (case.case_id, case.mention.id, ALICE, BOB, ts, case.card_ts or "-"):
        assert secret_or_id not in labels, secret_or_id


def test_endpoints_are_bounded() -> None:
    slack = "https://slack.com/api/"
    assert endpoint("https://slack.com/api/chat.postMessage", slack) == (
        "slack",
        "chat.postMessage",
    )
    assert endpoint("https://m.example/api/v1/statuses/1094/context", slack) == (
        "network",
        "/api/v1/statuses/:id/context",
    )
    assert endpoint(
        "https://m.example/api/v1/accounts/AbCdEf0123456789xyz/statuses?x=1", slack
    ) == (
        "network",
        "/api/v1/accounts/:id/statuses",
    )


async def test_failures_duplicates_escalations_and_waiting_jobs_move_their_metrics(
    world: Sandbox,
) -> None:
    """What the README's alert rules read moves when it happens: a job that gives up, a
    retried publish that then fails for good, an escalation, a duplicate mention, a queue
    nobody works on (the lag gauge)."""
    # a card Slack refuses for good: the card job gives up at once (on-call is paged)
    world.slack.fail("chat.postMessage", status=200, error="invalid_blocks")
    _, refused = await world.hostile_mention("bande de connards incompétents")

    async def gave_up() -> float:
        return value(await scrape(world), "coa_job_runs_total", kind="card", outcome="gave_up")

    await world.wait_for(gave_up, 5, "the card job to give up")
    # the same mention forwarded again: a duplicate, no second case
    status, answer = await world.ingest(webhook_body(refused))
    assert (status, answer["status"]) == (200, "duplicate")
    # a credible threat escalates at once
    await open_case(world, "je sais où tu habites, je vais te buter")
    # a publish that meets a 503 (retried), then a refusal (failed for good)
    case = await open_case(world, "bande de nuls, service de merde")
    ts = await propose(world, case, ALICE, "Nous regardons cela")
    world.mastodon.fail(times=1, status=503, path="/api/v1/statuses")
    world.mastodon.fail(times=1, status=422, path="/api/v1/statuses")
    await react(world, BOB, ts)
    await react(world, MAX, ts)

    async def settled() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        m = await scrape(world)
        wanted = (
            value(m, "coa_publishes_total", outcome="failed"),
            value(m, "coa_escalations_total"),
        )
        return m if all(wanted) else {}

    m = await world.wait_for(settled, 10, "the failures to be counted")
    assert value(m, "coa_mentions_ingested_total", outcome="duplicate", platform="mastodon") == 1
    assert value(m, "coa_mentions_ingested_total", outcome="opened", platform="mastodon") == 3
    assert value(m, "coa_cases_opened_total", platform="mastodon", severity="critical") == 1
    assert value(m, "coa_escalations_total") == 1
    assert value(m, "coa_job_runs_total", kind="card", outcome="gave_up") == 1
    assert value(m, "coa_job_runs_total", kind="publish", outcome="retry") == 1
    assert value(m, "coa_publishes_total", outcome="failed") == 1
    assert value(m, "coa_publishes_total", outcome="published") == 0
    assert value(m, "coa_decide_to_publish_seconds_count") == 0  # only published replies
    assert value(m, "coa_api_calls_total", service="network", endpoint="/api/v1/statuses",
                 status="503") == 1  # fmt: skip
    assert value(m, "coa_jobs_oldest_due_lag_seconds") < 0.5  # the runner keeps up

    # nobody works on the queue (every replica stuck or down): the lag gauge grows
    await world.app.jobs.stop(timeout=0)
    await world.hostile_mention("encore vous, bande de connards")
    await asyncio.sleep(0.6)
    waiting = await scrape(world)
    assert value(waiting, "coa_jobs_oldest_due_lag_seconds") >= 0.5


def readme_alert_rules() -> list[dict[str, Any]]:
    """The YAML block under "Alert rules worth having" in the README's Metrics section."""
    text = README.read_text().split("Alert rules worth having", 1)[1]
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    return yaml.safe_load(block)  # type: ignore[no-any-return]


def selectors(node: Any, in_increase: bool = False) -> list[tuple[Any, bool]]:
    """The vector selectors of a parsed PromQL expression, each with whether it is read by
    increase() (which cannot see the first increment of a series that appears with it)."""
    if isinstance(node, promql_parser.VectorSelector):
        return [(node, in_increase)]
    if isinstance(node, promql_parser.MatrixSelector):
        return selectors(node.vector_selector, in_increase)
    if isinstance(node, promql_parser.Call):
        inside = in_increase or node.func.name == "increase"
        return [s for arg in node.args for s in selectors(arg, inside)]
    if isinstance(node, promql_parser.BinaryExpr):
        return selectors(node.lhs, in_increase) + selectors(node.rhs, in_increase)
    if isinstance(node, (promql_parser.AggregateExpr, promql_parser.ParenExpr)):
        return selectors(node.expr, in_increase)
    return []


def matching(samples: Samples, selector: Any) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    ops = {  # by the name of promql_parser.MatchOp's member (the enum is not hashable)
        "Equal": lambda v, want: v == want,
        "NotEqual": lambda v, want: v != want,
        "Re": lambda v, want: re.fullmatch(want, v) is not None,
        "NotRe": lambda v, want: re.fullmatch(want, v) is None,
    }
    found = []
    for name, labels in samples:
        have = dict(labels)
        if name == selector.name and all(
            ops[str(m.op).removeprefix("MatchOp.")](have.get(m.name, ""), m.value)
            for m in selector.matchers.matchers
        ):
            found.append((name, labels))
    return found


async def test_the_readme_alert_rules_are_valid_promql_on_series_the_app_serves(
    world: Sandbox,
) -> None:
    rules = readme_alert_rules()
    assert {r["alert"] for r in rules} >= {"PublishFailures", "JobQueueLagging", "JobsGivingUp"}
    parsed = [(rule["alert"], promql_parser.parse(rule["expr"])) for rule in rules]  # valid
    # what increase() reads exists from the start (at 0): else the first failure of every
    # replica since its start would never fire the alert
    fresh = await scrape(world)
    for alert, expr in parsed:
        for selector, counted in selectors(expr):
            if counted:
                assert matching(fresh, selector), f"{alert}: {selector} not served at start"
    # every selector names a series the app serves (Slack's 429s once one happened)
    world.slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    await open_case(world)
    later = await scrape(world)
    for alert, expr in parsed:
        assert selectors(expr), alert
        for selector, _ in selectors(expr):
            assert matching(later, selector), f"{alert}: no series matches {selector}"
