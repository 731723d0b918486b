"""Export remediation tasks as CSV, JSON, GitHub issues or Jira issues, and post them."""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import re
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from ..config import TicketsSection
from ..exceptions import InputError, RcaKitError

FORMATS = ("csv", "json", "github", "jira")
CSV_HEADER = (
    "id", "rank", "title", "hypothesis_id", "service", "team", "severity", "owner", "status",
    "due_date", "score", "computed_score", "override", "confidence", "impact", "effort", "risk",
    "occurrences", "external_system", "external_key", "explanation",
)  # fmt: skip
_PRIORITIES = ((85.0, "Highest"), (70.0, "High"), (50.0, "Medium"), (30.0, "Low"))
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TITLE_MAX = 255  # Jira's summary limit; GitHub accepts 256
_LABEL_MAX = 50  # GitHub's label name limit
_TEXT_MAX = 20_000  # keeps a body well under GitHub's 65,536 and Jira's 32,767 characters
_EVIDENCE_MAX = 50
_FACTORS = ("impact", "effort", "risk")
_GITHUB_KEY = re.compile(r"^(?:([\w.-]+/[\w.-]+)#|#)?(\d+)$")
_JIRA_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-\d+$")
_GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$")


def tracker_key(key: str, system: str | None = None) -> tuple[str, str]:
    """(tracker, key) for a ticket key the exporter can later update; InputError otherwise.

    GitHub: 42, #42 or owner/repo#42; Jira: PROJ-7. Without `system` it is told from the key.
    """
    key = key.strip()
    found = {"github": _GITHUB_KEY.match(key), "jira": _JIRA_KEY.match(key)}
    if system is None:
        system = next((name for name, match in found.items() if match), None)
        if system is None:
            msg = (
                f"{key[:80]!r} is neither a GitHub issue (42, #42, owner/repo#42) "
                "nor a Jira key (OPS-7)"
            )
            raise InputError(msg)
    if system not in found:
        raise InputError(f"unknown tracker {system!r} (one of: github, jira)")
    if not found[system]:
        example = "42, #42 or owner/repo#42" if system == "github" else "OPS-7"
        raise InputError(f"{key[:80]!r} is not a {system} key (like {example})")
    return system, key


class TicketPostError(RcaKitError):
    """Posting stopped at a failed request; `posted` holds the results sent before it."""

    def __init__(self, message: str, *, posted: list[dict[str, Any]], status: int | None) -> None:
        super().__init__(message)
        self.posted = posted
        self.status = status


def _line(value: Any, limit: int = _TITLE_MAX) -> str:
    """One line of text: control and format characters dropped, whitespace folded, bounded."""
    text = "".join(
        " " if ch.isspace() else ch
        for ch in str(value if value is not None else "")
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _block(value: Any) -> str:
    """Multi-line text: newlines and tabs kept, other control characters dropped, bounded."""
    text = str(value or "").replace("\r\n", "\n")
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf"))
    return text if len(text) <= _TEXT_MAX else text[: _TEXT_MAX - 1] + "…"


def _md(value: Any, limit: int = 200) -> str:
    # Escaping all ASCII punctuation keeps untrusted text from becoming links, HTML or mentions.
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", _line(value, limit)) or "—"


def _code(value: Any) -> str:
    text = _line(value, 300).replace("`", "'").replace("|", "\\|")
    return f"`{text}`" if text else "—"


def _wiki(value: Any, limit: int = 200) -> str:
    # Jira wiki markup: a backslash escapes the characters that open macros, links and styles.
    return re.sub(r"([\\{}\[\]|*_+^~?#!-])", r"\\\1", _line(value, limit)) or "-"


def _due(row: Mapping[str, Any]) -> str | None:
    try:
        return date.fromisoformat(str(row.get("due_date"))).isoformat()
    except ValueError:
        return None


def priority(score: Any) -> str:
    """Jira priority name for an effective score: Highest, High, Medium, Low or Lowest."""
    value = float(score or 0.0)
    return next((name for floor, name in _PRIORITIES if value >= floor), "Lowest")


def _override(override: Mapping[str, Any] | None, esc: Callable[[Any], str] = str) -> str:
    """`authority: new value`, the untrusted parts passed through esc."""
    if not override:
        return ""
    if override.get("score") is not None:
        value = f"score {float(override['score']):.1f}"
    else:
        value = ", ".join(f"{k} {esc(override[k])}" for k in _FACTORS if k in override)
    return f"{esc(override.get('authority') or 'unknown')}: {value}"


def _score_line(row: Mapping[str, Any], esc: Callable[[Any], str]) -> str:
    text = f"Score {float(row['score']):.1f} (computed {float(row['computed_score']):.1f}"
    if override := row.get("override"):
        why = f" — {esc(override['rationale'])}" if override.get("rationale") else ""
        return f"{text}; override by {_override(override, esc)}{why})"
    return text + ")"


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The tasks as CSV with a fixed header; text cells that a spreadsheet would run are defused."""
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180 CRLF rows; fields holding \r or \n get quoted
    writer.writerow(CSV_HEADER)
    for row in rows:
        cells = {**row, "override": _override(row.get("override"))}
        writer.writerow([_csv_cell(cells.get(key)) for key in CSV_HEADER])
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # OWASP: a leading apostrophe makes Excel/Sheets treat it as text
    return value


def _labels(row: Mapping[str, Any]) -> list[str]:
    labels = ["rca-kit", f"hypothesis:{row['hypothesis_id']}"]
    if row.get("service"):
        labels.append(f"service:{row['service']}")
    labels += [f"status:{row['status']}", f"priority:{priority(row['score']).lower()}"]
    return [_line(label, _LABEL_MAX) for label in labels]


def _fence(text: str) -> str:
    # A fence longer than any backtick run inside keeps the text literal.
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _table(wiki: bool, header: Sequence[str], rows: list[list[str]]) -> list[str]:
    if wiki:
        return ["||" + "||".join(header) + "||", *("|" + "|".join(r) + "|" for r in rows)]
    rule = "| " + " | ".join("---" for _ in header) + " |"
    return ["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(r) + " |" for r in rows)]


def describe(row: Mapping[str, Any], *, wiki: bool = False) -> str:
    """Issue text: description, score and breakdown, status, evidence; Markdown or Jira wiki."""
    esc, code = (_wiki, _wiki) if wiki else (_md, _code)
    parts = [f"Remediation task {code(row['id'])} (rank {int(row.get('rank') or 0)})", ""]
    if text := _block(row.get("description")):
        # {noformat} shows its content verbatim, so a stray one inside must not close it early
        quoted = "{noformat}\n" + text.replace("{noformat}", "{ noformat}") + "\n{noformat}"
        parts += [quoted if wiki else _fence(text), ""]
    breakdown = [[esc(k), f"{float(v):.2f}"] for k, v in (row.get("breakdown") or {}).items()]
    parts += [_score_line(row, esc), "", *_table(wiki, ("factor", "points"), breakdown)]
    owner = esc(row.get("owner")) if row.get("owner") else "unassigned"
    parts += ["", f"Status: {esc(row['status'])}; Owner: {owner}; Due: {_due(row) or '-'}"]
    parts += ["", f"Why: {esc(row.get('explanation'), 1000)}", ""]
    parts.append("h3. Evidence" if wiki else "### Evidence")
    evidence = list(row.get("evidence") or [])
    cells = [
        [code(ev.get("kind")), code(ev.get("investigation_id")), code(ev.get("hypothesis_id")),
         esc(ev.get("verdict")), f"{float(ev.get('confidence') or 0.0):.2f}",
         code(ev.get("notebook")), code(ev.get("report")), code(ev.get("snapshot_sha256"))]
        for ev in evidence[:_EVIDENCE_MAX]
    ]  # fmt: skip
    header = ("kind", "investigation", "hypothesis", "verdict", "confidence", "notebook", "report",
              "snapshot")  # fmt: skip
    parts += ["", *_table(wiki, header, cells)]
    if len(evidence) > _EVIDENCE_MAX:
        parts += ["", f"… and {len(evidence) - _EVIDENCE_MAX} more evidence records."]
    return "\n".join(parts)


def github_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The body of GitHub's create/update issue call."""
    login = _line(row.get("owner"), 40).removeprefix("@")
    # GitHub rejects an assignee that is not a login; other owners are named in the body only
    assignees = [login] if _GITHUB_LOGIN.match(login) else []
    title = _line(row["title"]) or _line(row["id"])
    return {"title": title, "body": describe(row), "labels": _labels(row), "assignees": assignees}


def jira_fields(row: Mapping[str, Any], settings: TicketsSection) -> dict[str, Any]:
    """The `fields` of Jira's REST API v2 create/edit issue call."""
    owner = _line(row.get("owner"))
    return {
        "project": {"key": settings.jira_project},
        "summary": _line(row["title"]) or _line(row["id"]),
        "description": describe(row, wiki=True),
        "issuetype": {"name": settings.jira_issue_type},
        "priority": {"name": priority(row["score"])},
        "labels": [re.sub(r"\s+", "-", label) for label in _labels(row)],
        "assignee": {"name": owner} if owner else None,
        "duedate": _due(row),
    }


def export_items(
    rows: Sequence[Mapping[str, Any]], fmt: str, settings: TicketsSection
) -> list[dict[str, Any]]:
    """One item per task: the plain row for json, or {task_id, action, external_key, payload}."""
    if fmt == "csv":
        raise InputError("csv is a table, not items: use to_csv")
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    if fmt == "json":
        # default=str turns dates and paths into text so the result is plain JSON
        return [json.loads(json.dumps(dict(row), default=str)) for row in rows]
    if fmt == "jira" and not settings.jira_project:
        raise InputError("[tickets] jira_project is not set in rca.toml")
    items = []
    for row in rows:
        key = row.get("external_key") if row.get("external_system") == fmt else None
        action = "update" if key else "create"
        if fmt == "github":
            payload = github_payload(row)
        else:
            fields = jira_fields(row, settings)
            if key:  # Jira's edit call rejects project and issuetype: they are not edit fields
                fields = {k: v for k, v in fields.items() if k not in ("project", "issuetype")}
            payload = {"fields": fields}
        items.append({"task_id": row["id"], "action": action, "external_key": key or None,
                      "payload": payload})  # fmt: skip
    return items


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would resend the Authorization header to wherever a redirect points
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _target(item: Mapping[str, Any], fmt: str, settings: TicketsSection) -> tuple[str, str]:
    """The HTTP method and URL path for one item, the linked key checked before anything is sent."""
    key = str(item.get("external_key") or "")
    if fmt == "github":
        repo = str(settings.github_repo)
        if item["action"] == "create":
            return "POST", f"/repos/{repo}/issues"
        match = _GITHUB_KEY.match(key.strip())
        if not match or (match.group(1) and match.group(1).lower() != repo.lower()):
            raise InputError(f"task {item['task_id']} is linked to {key!r}, not an issue of {repo}")
        return "PATCH", f"/repos/{repo}/issues/{match.group(2)}"
    if item["action"] == "create":
        return "POST", "/rest/api/2/issue"
    if not _JIRA_KEY.match(key):
        raise InputError(f"task {item['task_id']} is linked to {key!r}, which is not a Jira key")
    return "PUT", f"/rest/api/2/issue/{urllib.parse.quote(key)}"


def _check_settings(fmt: str, settings: TicketsSection, env: Mapping[str, str]) -> tuple[str, str]:
    if fmt == "github":
        if not settings.github_repo or not re.fullmatch(r"[\w.-]+/[\w.-]+", settings.github_repo):
            raise InputError("[tickets] github_repo is not set to owner/name in rca.toml")
        base, var = settings.github_url, settings.github_token_env
    elif fmt == "jira":
        if not settings.jira_url:
            raise InputError("[tickets] jira_url is not set in rca.toml")
        if not settings.jira_project:
            raise InputError("[tickets] jira_project is not set in rca.toml")
        base, var = settings.jira_url, settings.jira_token_env
    else:
        raise InputError(f"only github and jira items can be posted, not {fmt!r}")
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        raise InputError(f"[tickets] {fmt}_url must be an http(s) URL in rca.toml")
    if not env.get(var):
        raise InputError(f"environment variable {var} is not set; it must hold the {fmt} token")
    return base.rstrip("/"), env[var]


def post(
    items: Sequence[Mapping[str, Any]],
    fmt: str,
    settings: TicketsSection,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 30,
) -> list[dict[str, Any]]:
    """Send items from export_items to GitHub or Jira; stops at the first failed request."""
    base, token = _check_settings(fmt, settings, os.environ if env is None else env)
    targets = [_target(item, fmt, settings) for item in items]
    opener = urllib.request.build_opener(_NoRedirect)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/vnd.github+json" if fmt == "github" else "application/json",
               "User-Agent": "rca-kit"}  # fmt: skip
    posted: list[dict[str, Any]] = []
    for item, (method, path) in zip(items, targets, strict=True):
        data = json.dumps(item["payload"]).encode()
        # the scheme was checked above: only http(s) reaches urlopen
        request = urllib.request.Request(base + path, data, headers, method=method)  # noqa: S310
        status, reply, key, problem = None, "", None, ""
        try:
            with opener.open(request, timeout=timeout_s) as response:
                status, reply = response.status, response.read().decode("utf-8", "replace")
            if method in ("PATCH", "PUT"):
                key = item["external_key"]
            elif reply.strip():
                key = json.loads(reply).get("number" if fmt == "github" else "key")
            problem = "" if key is not None else "the response names no issue"
        except urllib.error.HTTPError as exc:
            with exc:
                status, reply = exc.code, exc.read().decode("utf-8", "replace")
            problem = "rejected"
        except (OSError, http.client.HTTPException, ValueError, AttributeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            # redact before cutting, so no prefix of an echoed token survives the excerpt
            excerpt = _line(reply.replace(token, "***"), 10**6)[:200]
            said = [f"HTTP {status}" if status else "", problem.replace(token, "***"), excerpt]
            text = ": ".join(part for part in said if part)
            raise TicketPostError(
                f"{method} {path} failed: {text}; "
                f"{len(posted)} of {len(items)} items were posted before this one",
                posted=posted,
                status=status,
            ) from None
        posted.append({"task_id": item["task_id"], "action": item["action"],
                       "external_key": str(key), "status": status})  # fmt: skip
    return posted
