"""Ticket export: CSV, JSON, GitHub and Jira payloads, and posting them to a local fake tracker."""

from __future__ import annotations

import csv
import io
import json
import pickle
import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fake_tracker import Tracker, running

from rca_kit.config import TicketsSection
from rca_kit.exceptions import InputError, RcaKitError
from rca_kit.register.tickets import (
    CSV_HEADER,
    FORMATS,
    TicketPostError,
    export_items,
    post,
    priority,
    to_csv,
)

TOKEN = "ghp_s3cret-token-value-0123456789"
ENV = {"GITHUB_TOKEN": TOKEN, "JIRA_TOKEN": TOKEN}


def a_task(**changes: Any) -> dict[str, Any]:
    """A register row as the CLI hands it over, with one override and two evidence records."""
    row: dict[str, Any] = {
        "id": "task-20261126005854-6ef001",
        "title": "Raise the checkout connection pool",
        "description": "The pool is exhausted at peak.\nRaise it to 64.",
        "hypothesis_id": "db-pool-exhaustion",
        "service": "checkout",
        "team": "payments",
        "severity": "critical",
        "owner": "alice",
        "status": "open",
        "due_date": "2026-11-29",
        "score": 91.0,
        "computed_score": 88.5,
        "override": {
            "score": 91.0,
            "authority": "cto",
            "rationale": "black friday",
            "at": "2026-11-26T01:00:00Z",
        },
        "breakdown": {"impact": 40.0, "confidence": 28.5, "effort": 11.25, "risk": 11.25},
        "explanation": "supported at 0.95; impact 5",
        "confidence": 0.95,
        "impact": 5,
        "effort": 2,
        "risk": 2,
        "occurrences": 2,
        "external_key": None,
        "external_system": None,
        "rank": 1,
        "evidence": [
            {
                "kind": kind,
                "investigation_id": f"inv-{n}",
                "run_id": f"run-{n}",
                "hypothesis_id": "db-pool-exhaustion",
                "verdict": "supported",
                "confidence": 0.95,
                "notebook": f"investigations/inv-{n}/db.ipynb",
                "report": f"investigations/inv-{n}/report.html",
                "snapshot_sha256": f"{n}" * 64,
                "created_at": "2026-11-26T00:58:54Z",
            }
            for n, kind in ((1, "origin"), (2, "recurrence"))
        ],
    }
    return {**row, **changes}


@pytest.fixture
def tracker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tracker]:
    """A GitHub- and Jira-like HTTP server on 127.0.0.1, stopped after the test."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with running() as state:
        yield state


def settings_for(url: str = "http://127.0.0.1:9", **changes: Any) -> TicketsSection:
    values = {
        "github_url": url,
        "github_repo": "acme/shop",
        "jira_url": url,
        "jira_project": "OPS",
        **changes,
    }
    return TicketsSection(**values)


def test_github_payload_has_labels_assignees_and_evidence() -> None:
    """A GitHub item carries title, a Markdown body with score and evidence, labels and assignee."""
    [item] = export_items([a_task()], "github", settings_for())
    assert item["action"] == "create"
    assert item["external_key"] is None
    payload = item["payload"]
    assert set(payload) == {"title", "body", "labels", "assignees"}
    assert payload["title"] == "Raise the checkout connection pool"
    assert payload["assignees"] == ["alice"]
    assert payload["labels"] == [
        "rca-kit",
        "hypothesis:db-pool-exhaustion",
        "service:checkout",
        "status:open",
        "priority:highest",
    ]
    body = payload["body"]
    assert "Raise it to 64." in body
    assert "Score 91.0 (computed 88.5; override by cto: score 91.0 — black friday)" in body
    assert "| impact | 40.00 |" in body
    for text in ("`inv-1`", "`inv-2`", "`investigations/inv-1/report.html`", "1" * 64):
        assert text in body
    assert "Due: 2026-11-29" in body


def test_github_labels_skip_an_empty_service_and_owners_that_are_not_logins() -> None:
    """No service label without a service; an owner that is no GitHub login is not assigned."""
    task = a_task(service="", owner="Alice Smith <alice@example.com>")
    payload = export_items([task], "github", settings_for())[0]["payload"]
    assert not any(label.startswith("service:") for label in payload["labels"])
    assert payload["assignees"] == []
    assert (
        export_items([a_task(owner=None)], "github", settings_for())[0]["payload"]["assignees"]
        == []
    )


def test_jira_payload_has_the_create_issue_shape() -> None:
    """A Jira item carries the REST v2 fields: project, summary, issuetype, priority, labels."""
    task = a_task(service="check out")
    [item] = export_items([task], "jira", settings_for(jira_issue_type="Bug"))
    fields = item["payload"]["fields"]
    assert fields["project"] == {"key": "OPS"}
    assert fields["summary"] == "Raise the checkout connection pool"
    assert fields["issuetype"] == {"name": "Bug"}
    assert fields["priority"] == {"name": "Highest"}
    assert fields["assignee"] == {"name": "alice"}
    assert fields["duedate"] == "2026-11-29"
    assert "service:check-out" in fields["labels"]
    assert all(" " not in label for label in fields["labels"])
    assert "||factor||points||" in fields["description"]
    assert "inv\\-2" in fields["description"]
    unowned = export_items([a_task(owner=None, due_date=None)], "jira", settings_for())
    assert unowned[0]["payload"]["fields"]["assignee"] is None
    assert unowned[0]["payload"]["fields"]["duedate"] is None


@pytest.mark.parametrize(
    ("score", "name"),
    [(100, "Highest"), (85, "Highest"), (84.9, "High"), (70, "High"), (50, "Medium"),
     (30, "Low"), (29.9, "Lowest"), (0, "Lowest")],
)  # fmt: skip
def test_priority_follows_the_score_bands(score: float, name: str) -> None:
    """Scores map to Jira priorities at 85, 70, 50 and 30, and to the same GitHub label."""
    assert priority(score) == name
    task = a_task(score=score)
    fields = export_items([task], "jira", settings_for())[0]["payload"]["fields"]
    assert fields["priority"] == {"name": name}
    labels = export_items([task], "github", settings_for())[0]["payload"]["labels"]
    assert f"priority:{name.lower()}" in labels


def test_a_task_linked_to_one_tracker_is_still_new_to_the_other() -> None:
    """A Jira-linked task updates in Jira but is a create for GitHub, and vice versa."""
    rows = [
        a_task(id="t-jira", external_system="jira", external_key="OPS-3"),
        a_task(id="t-gh", external_system="github", external_key="#12"),
    ]
    github = export_items(rows, "github", settings_for())
    jira = export_items(rows, "jira", settings_for())
    assert [(i["action"], i["external_key"]) for i in github] == [
        ("create", None),
        ("update", "#12"),
    ]
    assert [(i["action"], i["external_key"]) for i in jira] == [
        ("update", "OPS-3"),
        ("create", None),
    ]
    # Jira's edit call refuses project and issuetype, so an update leaves them out
    assert "project" not in jira[0]["payload"]["fields"]
    assert jira[1]["payload"]["fields"]["project"] == {"key": "OPS"}


def test_json_export_is_plain_json_with_evidence() -> None:
    """The json format returns the rows, evidence included, as JSON-able dicts."""
    [item] = export_items([a_task(exported_at=datetime(2026, 11, 26))], "json", settings_for())
    assert json.loads(json.dumps(item)) == item
    assert item["evidence"][1]["kind"] == "recurrence"
    assert item["exported_at"] == "2026-11-26 00:00:00"


def test_unknown_format_and_missing_jira_project_are_input_errors() -> None:
    """An unknown format lists the formats; jira export without jira_project names that key."""
    with pytest.raises(InputError, match="csv, json, github, jira"):
        export_items([a_task()], "yaml", settings_for())
    with pytest.raises(InputError, match=r"\[tickets\] jira_project is not set in rca.toml"):
        export_items([a_task()], "jira", settings_for(jira_project=None))
    assert FORMATS == ("csv", "json", "github", "jira")


def test_github_post_creates_new_tasks_and_patches_linked_ones(tracker: Tracker) -> None:
    """New tasks are POSTed, linked ones PATCHed at their number, with the token and headers."""
    rows = [a_task(id="t-new"), a_task(id="t-old", external_system="github", external_key="12")]
    items = export_items(rows, "github", settings_for(tracker.url))
    results = post(items, "github", settings_for(tracker.url), env=ENV)
    assert [(r["method"], r["path"]) for r in tracker.requests] == [
        ("POST", "/repos/acme/shop/issues"),
        ("PATCH", "/repos/acme/shop/issues/12"),
    ]
    assert results == [
        {"task_id": "t-new", "action": "create", "external_key": "42", "status": 201},
        {"task_id": "t-old", "action": "update", "external_key": "12", "status": 200},
    ]
    for request in tracker.requests:
        assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
        assert request["headers"]["accept"] == "application/vnd.github+json"
        assert request["headers"]["content-type"] == "application/json"
        assert request["headers"]["user-agent"] == "rca-kit"
    assert tracker.requests[0]["body"] == items[0]["payload"]
    assert TOKEN not in json.dumps(results)


@pytest.mark.parametrize("key", ["12", "#12", "acme/shop#12", "ACME/Shop#12"])
def test_github_keys_in_any_form_patch_the_issue_number(tracker: Tracker, key: str) -> None:
    """An issue linked as 12, #12 or owner/repo#12 is patched at /issues/12."""
    rows = [a_task(external_system="github", external_key=key)]
    post(export_items(rows, "github", settings_for()), "github", settings_for(tracker.url), ENV)
    assert [(r["method"], r["path"]) for r in tracker.requests] == [
        ("PATCH", "/repos/acme/shop/issues/12")
    ]


@pytest.mark.parametrize("key", ["other/repo#12", "abc", "12/../../admin", "acme/shop12"])
def test_github_keys_for_another_repo_or_garbage_send_nothing(tracker: Tracker, key: str) -> None:
    """A key of another repository or no issue number fails before any request is made."""
    rows = [a_task(id="first"), a_task(external_system="github", external_key=key)]
    items = export_items(rows, "github", settings_for())
    with pytest.raises(InputError, match="is linked to"):
        post(items, "github", settings_for(tracker.url), env=ENV)
    assert tracker.requests == []


def test_jira_post_creates_new_tasks_and_puts_linked_ones(tracker: Tracker) -> None:
    """New tasks are POSTed to /rest/api/2/issue, linked ones PUT at their key."""
    rows = [a_task(id="t-new"), a_task(id="t-old", external_system="jira", external_key="OPS-3")]
    settings = settings_for(tracker.url)
    results = post(export_items(rows, "jira", settings), "jira", settings, env=ENV)
    assert [(r["method"], r["path"]) for r in tracker.requests] == [
        ("POST", "/rest/api/2/issue"),
        ("PUT", "/rest/api/2/issue/OPS-3"),
    ]
    assert results == [
        {"task_id": "t-new", "action": "create", "external_key": "OPS-7", "status": 201},
        {"task_id": "t-old", "action": "update", "external_key": "OPS-3", "status": 204},
    ]
    assert all(r["headers"]["authorization"] == f"Bearer {TOKEN}" for r in tracker.requests)
    assert tracker.requests[0]["body"]["fields"]["project"] == {"key": "OPS"}
    assert set(tracker.requests[1]["body"]["fields"]) >= {"summary", "description", "priority"}


def test_a_refused_request_stops_with_status_excerpt_and_what_was_posted(tracker: Tracker) -> None:
    """A 422 raises with method, path, status and body excerpt, keeps earlier results, no token."""
    tracker.fail_at = 2
    tracker.fail_body = json.dumps({"message": "Validation Failed", "echo": TOKEN}) + "x" * 500
    rows = [a_task(id=f"t-{n}") for n in range(3)]
    items = export_items(rows, "github", settings_for())
    with pytest.raises(TicketPostError) as caught:
        post(items, "github", settings_for(tracker.url), env=ENV)
    err = caught.value
    message = str(err)
    assert message.startswith("POST /repos/acme/shop/issues failed: HTTP 422")
    assert "Validation Failed" in message
    assert "1 of 3 items were posted before this one" in message
    assert "\n" not in message
    assert "x" * 200 not in message  # only the first 200 characters of the body
    assert err.exit_code == 1
    assert isinstance(err, RcaKitError)
    assert not isinstance(err, InputError)
    assert err.status == 422
    assert err.posted == [
        {"task_id": "t-0", "action": "create", "external_key": "42", "status": 201}
    ]
    assert len(tracker.requests) == 2  # the third item was never sent
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own object, round-tripped
    assert (type(copy), str(copy), copy.posted, copy.status) == (
        TicketPostError, message, err.posted, 422
    )  # fmt: skip
    for text in (message, repr(err), repr(err.args), json.dumps(err.posted)):
        assert TOKEN not in text
        assert TOKEN[:12] not in text


def test_a_redirect_is_not_followed_with_the_token(tracker: Tracker) -> None:
    """A 3xx answer is an error, so the Authorization header is never resent elsewhere."""
    tracker.fail_at, tracker.fail_status = 1, 302
    tracker.fail_headers = {"Location": f"{tracker.url}/elsewhere"}
    items = export_items([a_task()], "jira", settings_for())
    with pytest.raises(TicketPostError, match="HTTP 302"):
        post(items, "jira", settings_for(tracker.url), env=ENV)
    assert len(tracker.requests) == 1


def test_a_connection_failure_is_an_rca_error_without_the_token() -> None:
    """A tracker that is not listening raises TicketPostError naming the path, not the token."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed again: nothing listens
    items = export_items([a_task()], "jira", settings_for())
    with pytest.raises(TicketPostError, match="POST /rest/api/2/issue failed") as caught:
        post(items, "jira", settings_for(url), env=ENV, timeout_s=5)
    assert caught.value.posted == []
    assert "0 of 1 items" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_a_missing_token_names_the_variable(
    tracker: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the token variable nothing is sent and the error names the variable."""
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    items = export_items([a_task()], "github", settings_for())
    with pytest.raises(InputError, match="GITHUB_TOKEN"):
        post(items, "github", settings_for(tracker.url))
    with pytest.raises(InputError, match="MY_JIRA"):
        post(items, "jira", settings_for(tracker.url, jira_token_env="MY_JIRA"), env=ENV)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert post(items, "github", settings_for(tracker.url))[0]["external_key"] == "42"
    assert len(tracker.requests) == 1


@pytest.mark.parametrize(
    ("fmt", "changes", "key"),
    [
        ("github", {"github_repo": None}, "github_repo"),
        ("github", {"github_repo": "no-slash"}, "github_repo"),
        ("jira", {"jira_url": None}, "jira_url"),
        ("jira", {"jira_project": None}, "jira_project"),
        ("github", {"github_url": "file:///etc/passwd"}, "github_url"),
    ],
)
def test_missing_tracker_settings_name_the_rca_toml_key(
    fmt: str, changes: dict[str, Any], key: str
) -> None:
    """Posting without the repo, URL or project raises an InputError naming the [tickets] key."""
    items = export_items([a_task()], fmt, settings_for())
    with pytest.raises(InputError, match=rf"\[tickets\] {key} .*rca.toml"):
        post(items, fmt, settings_for(**changes), env=ENV)


def test_csv_has_a_fixed_header_and_defuses_formulas() -> None:
    """Text cells starting with = + - @ tab or CR get an apostrophe; numbers stay numbers."""
    rows = [
        a_task(),
        a_task(title="=HYPERLINK(\"http://evil\")", owner="@bob", team="+1", service="-x",
               severity="\tcrit", explanation="\rnote", override=None, due_date=None),
    ]  # fmt: skip
    table = list(csv.reader(io.StringIO(to_csv(rows))))
    assert tuple(table[0]) == CSV_HEADER
    assert CSV_HEADER[:3] == ("id", "rank", "title")
    first = dict(zip(CSV_HEADER, table[1], strict=True))
    hostile = dict(zip(CSV_HEADER, table[2], strict=True))
    assert first["override"] == "cto: score 91.0"
    assert (first["score"], first["rank"], first["impact"]) == ("91.0", "1", "5")
    assert first["external_key"] == ""
    assert hostile["title"] == '\'=HYPERLINK("http://evil")'
    assert (hostile["owner"], hostile["team"], hostile["service"]) == ("'@bob", "'+1", "'-x")
    assert (hostile["severity"], hostile["explanation"]) == ("'\tcrit", "'\rnote")
    assert (hostile["override"], hostile["due_date"]) == ("", "")
    factors = a_task(override={"impact": 5, "effort": 1, "authority": "=cmd", "rationale": "r"})
    assert "'=cmd: impact 5, effort 1" in to_csv([factors])


def test_hostile_text_stays_bounded_data() -> None:
    """Markup, control characters and huge text become bounded, inert payload data."""
    fence = "`" * 5
    task = a_task(
        title="x" * 5000 + "\n## injected\x00\x1b[31m",
        description=f"{fence}\n<script>x</script>\n{{noformat}}\n@everyone\x07" + "y" * 50_000,
        owner="bob\x00\n<img src=x>",
        hypothesis_id="h" * 200,
        service="svc\u202e\x1b",
        status="open\r\nX-Injected: 1",
        override={"score": 10, "authority": "[click](http://evil)", "rationale": "<b>x</b>|a|"},
    )  # fmt: skip
    github = export_items([task], "github", settings_for())[0]["payload"]
    fields = export_items([task], "jira", settings_for())[0]["payload"]["fields"]
    assert len(github["title"]) <= 256
    assert len(fields["summary"]) <= 255
    assert "\n" not in fields["summary"]
    assert github["assignees"] == []
    assert all(len(label) <= 50 for label in github["labels"])
    assert "service:svc" in github["labels"]
    assert all(not any(c.isspace() for c in label) for label in fields["labels"])
    assert len(github["body"]) < 30_000
    assert len(fields["description"]) < 30_000
    # the description sits inside a fence longer than any backtick run it contains
    assert "``````text\n" + fence + "\n<script>" in github["body"]
    assert fields["description"].count("{noformat}") == 2
    assert "[click](http" not in github["body"]
    assert "\\[click\\]\\(http" in github["body"]
    for text in (json.dumps(github), json.dumps(fields)):
        assert "\\u0000" not in text
        assert "\\u001b" not in text
        assert "\\u202e" not in text
        assert "\\u0007" not in text
    for line in (github["title"], fields["summary"], *github["labels"], *fields["labels"]):
        assert line.isprintable()
