"""kind = "git": changes from the history of a local git repository.

Every commit on the branch's first-parent line (what landed, merges included) whose committer
time (or, with `time = "author"`, author time) lies in the snapshot's range becomes one change
per service it touches: timestamp in UTC (the commit's own offset honoured), kind from the
first `paths` glob matching one of its files (else `default_kind`), summary its subject line,
author, ref its sha. The service is named by a `Service:` trailer of the commit message, else
by the source's `service`, else per changed file: the first folder below the matching glob's
literal folders (`deploy/**` and `deploy/orders-api/values.yaml` → orders-api), or the top
folder for a file no glob matches (`orders-api/app.yaml` → orders-api).

A file that names no service that way (`Dockerfile` or `go.mod` at the top, a glob naming one
file such as `helm/values.yaml`), and a commit without files, is repo-wide: it may change any
service, so the commit also becomes a change of every service the snapshot asks about (the
alert's service and its upstreams); the manifest's `notes` count them. Asked about no
service, such commits are errors (the source is `partial`: its changes are not complete).
Never is such a commit dropped: "no change" must not be read from a change it could not place.

`git log` runs without a shell, with a fixed argument list and NUL-separated fields, so commit
messages and file names of any characters stay data.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import GitSource, Workspace
from ..exceptions import EvidenceError, SourceError
from .sources import Fetched, FetchRange, empty, normalize

_FIELDS = (
    "%H",
    "%aI",
    "%cI",
    "%an",
    "%s",
    "%(trailers:key=Service,valueonly,unfold,separator=%x1f)",
)
FORMAT = "%x00" + "%x00".join(_FIELDS)  # the leading NUL marks each commit (no file is "")
TIMEOUT_S = 120


@dataclass(frozen=True)
class Commit:
    sha: str
    authored: str
    committed: str
    author: str
    subject: str
    trailers: str
    files: tuple[str, ...]

    def services(self) -> list[str]:
        """Services named by `Service:` trailers, in order, without repeats."""
        return list(dict.fromkeys(v.strip() for v in self.trailers.split("\x1f") if v.strip()))


def parse_log(output: str) -> list[Commit]:
    """Commits from `git log -z --name-only --format=FORMAT` output."""
    tokens = output.split("\0")
    width = len(_FIELDS)
    commits = []
    i = 0
    while i + width < len(tokens):
        if tokens[i] != "":  # not at a commit's marker: malformed output, resynchronise
            i += 1
            continue
        header = tokens[i + 1 : i + 1 + width]
        i += 1 + width
        files = []
        while i < len(tokens) and tokens[i] != "":
            files.append(tokens[i])
            i += 1
        if files:
            files[0] = files[0].removeprefix("\n")  # git separates the file list with a newline
        sha, authored, committed, author, subject, trailers = header
        commits.append(
            Commit(
                sha, authored, committed, author, subject, trailers, tuple(f for f in files if f)
            )
        )
    return commits


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    """`*` and `?` within one folder, `**` across folders; everything else literal."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _literal_folders(pattern: str) -> int:
    """How many leading folders of the glob hold no wildcard (`deploy/**` → 1)."""
    count = 0
    for part in pattern.split("/")[:-1]:
        if "*" in part or "?" in part:
            break
        count += 1
    return count


def classify(path: str, paths: Mapping[str, str]) -> tuple[int, str | None, str | None]:
    """(index of the first matching glob or len(paths), its kind, the path's service)."""
    for index, (pattern, kind) in enumerate(paths.items()):
        if _glob(pattern).fullmatch(path):
            rest = path.split("/")[_literal_folders(pattern) :]
            return index, kind, rest[0] if len(rest) > 1 else None
    parts = path.split("/")
    return len(paths), None, parts[0] if len(parts) > 1 else None


MAX_NAMED = 3  # repo-wide commits named in a note or error


def changes(
    commits: list[Commit], section: GitSource, span: FetchRange
) -> tuple[list[dict[str, Any]], list[Commit]]:
    """One change row per commit and service, for commits inside the span, and the repo-wide
    commits among them (a file naming no service, or no file)."""
    rows = []
    wide = []
    start, end = pd.Timestamp(span.start), pd.Timestamp(span.end)
    everyone = [s for s in span.services if s]
    for commit in commits:
        stamp = commit.committed if section.time == "committer" else commit.authored
        when = pd.Timestamp(stamp).tz_convert("UTC")
        if not start <= when <= end:
            continue
        files = [classify(path, section.paths) for path in commit.files]
        named = commit.services() or ([section.service] if section.service else [])
        groups: dict[str, list[tuple[int, str | None, str | None]]] = {}
        for service in named:
            groups[service] = files
        if not named:
            for entry in files:
                if entry[2]:
                    groups.setdefault(entry[2], []).append(entry)
            unplaced = [entry for entry in files if not entry[2]]
            if unplaced or not files:
                wide.append(commit)
                for service in everyone:
                    groups.setdefault(service, []).extend(unplaced)
        for service, entries in groups.items():
            matched = min(entries, default=None, key=lambda e: e[0])
            kind = matched[1] if matched and matched[1] else section.default_kind
            rows.append(
                {
                    "timestamp": when.isoformat(),
                    "service": service,
                    "kind": kind,
                    "summary": commit.subject,
                    "author": commit.author,
                    "ref": commit.sha,
                }
            )
    return rows, wide


def _wide(commits: list[Commit]) -> str:
    subjects = ", ".join(repr(c.subject[:80]) for c in commits[:MAX_NAMED])
    more = f" and {len(commits) - MAX_NAMED} more" if len(commits) > MAX_NAMED else ""
    return (
        f"{len(commits)} commit(s) change files that name no service (top-level files, a glob "
        f"naming one file, or no file), newest first: {subjects}{more}"
    )


def _arguments(section: GitSource, span: FetchRange) -> list[str]:
    args = [
        "log",
        "-z",
        "--no-color",
        "--no-renames",
        "--encoding=UTF-8",
        "--first-parent",
        "--diff-merges=first-parent",
        "--name-only",
        f"--format={FORMAT}",
        f"--since={span.start.isoformat()}",
    ]
    if section.time == "committer":  # author times have no filter in git: filtered here
        args.append(f"--until={span.end.isoformat()}")
    return [*args, "--end-of-options", section.branch or "HEAD", "--"]


def run_git_log(repo: Path, section: GitSource, span: FetchRange) -> str:
    """`git log` over the span; config mistakes are EvidenceError, the rest SourceError."""
    if not repo.is_dir():
        raise EvidenceError("git repository not found", where=str(repo))
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "-c", "core.quotepath=off", *_arguments(section, span)],
            capture_output=True,
            env=env,
            timeout=TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise SourceError("git is not installed (no `git` on PATH)") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git log timed out after {TIMEOUT_S}s", where=str(repo)) from None
    error = done.stderr.decode("utf-8", "replace").strip().splitlines()
    first = error[0][:300] if error else f"git exited with {done.returncode}"
    if done.returncode == 0:
        return done.stdout.decode("utf-8", "replace")
    if "does not have any commits yet" in first:
        return ""
    if "not a git repository" in first:
        raise EvidenceError("not a git repository", where=str(repo))
    if "unknown revision" in first or "bad revision" in first or "ambiguous argument" in first:
        raise EvidenceError(
            f"branch {section.branch or 'HEAD'!r} not found in the repository", where=str(repo)
        )
    raise SourceError(first, where=str(repo))


def git_source(workspace: Workspace, section: GitSource, span: FetchRange) -> Fetched:
    """The registered source function."""
    repo = workspace.source_path(section.repo)
    rows, wide = changes(parse_log(run_git_log(repo, section, span)), section, span)
    errors, notes = [], []
    if wide and any(span.services):
        asked = ", ".join(s for s in span.services if s)
        notes.append(f"{_wide(wide)} — counted as changes of every service asked about ({asked})")
    elif wide:
        errors.append(
            f"{_wide(wide)}, and no service was asked about to count them for (a Service: "
            "trailer or the source's `service` names one)"
        )
    frame = normalize(pd.DataFrame(rows), "changes", section.label()) if rows else empty("changes")
    return Fetched({"changes": frame}, errors, notes=notes)
