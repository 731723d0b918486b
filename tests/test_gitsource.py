"""kind = "git": changes from a real temporary repository with commits at chosen times and
offsets, odd messages and file names, trailers, a merge and a second branch."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from rca_kit import load_evidence
from rca_kit.config import GitSource, Workspace, find_workspace
from rca_kit.evidence.coverage import coverage, source_record
from rca_kit.evidence.gitsource import git_source
from rca_kit.evidence.snapshot import freeze
from rca_kit.evidence.sources import FetchRange
from rca_kit.exceptions import EvidenceError
from rca_kit.models import Window

START = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NASTY = 'Tune "batch" size; $(rm -rf /) `id` \\ %H %x00 \x1f\x1e tab\there é 🚀'
PATHS = {"deploy/**": "deploy", "config/**": "config", "schema/**": "schema", "flags/**": "flag"}
ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Ana Ops",
    "GIT_AUTHOR_EMAIL": "ana@example.com",
    "GIT_COMMITTER_NAME": "CI",
    "GIT_COMMITTER_EMAIL": "ci@example.com",
}


def git(repo: Path, *args: str, when: str = "", authored: str = "") -> str:
    env = {**ENV, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": authored or when}
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, files: list[str], message: str, when: str, authored: str = "") -> str:
    for name in files:
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{path.read_text() if path.exists() else ''}{message}\n")
        git(repo, "add", "--", name)
    git(repo, "commit", "-q", "--allow-empty", "-m", message, when=when, authored=authored)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The history; returns the repository and each commit's sha by name."""
    root = tmp_path_factory.mktemp("git") / "ops"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    shas = {
        "old": commit(root, ["orders-api/app.yaml"], "old tweak", "2026-11-19T12:00:00+00:00"),
        "deploy": commit(
            root,
            ["deploy/orders-api/values.yaml"],
            "orders-api v2.15: rollout",
            "2026-11-20T12:30:00+05:30",  # 07:00 UTC
        ),
        "nasty": commit(
            root,
            ["config/orders-consumer/app.yaml", "deploy/orders-api/values.yaml"],
            NASTY,
            "2026-11-20T03:15:00-05:00",  # 08:15 UTC
        ),
        "trailer": commit(
            root,
            ["schema/warehouse.sql"],
            "Bump schema\n\nWidens a column.\n\nService: orders-warehouse\n",
            "2026-11-20T09:00:00Z",
        ),
        "readme": commit(root, ["README.md"], "docs only", "2026-11-20T09:30:00Z"),
        "newline": commit(
            root, ["orders-api/we\nird name.txt"], "odd file name", "2026-11-20T10:00:00Z"
        ),
    }
    git(root, "checkout", "-q", "-b", "feature")
    shas["branch"] = commit(
        root, ["flags/orders-consumer/flags.yaml"], "flip flag", "2026-11-20T09:45:00Z"
    )
    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--no-ff", "-m", "Merge feature", "feature", when="2026-11-20T10:30Z")
    shas["merge"] = git(root, "rev-parse", "HEAD")
    shas["late"] = commit(
        root,
        ["orders-api/late.yaml"],
        "written in the range, committed after it",
        "2026-11-20T13:00:00Z",
        authored="2026-11-20T11:00:00Z",
    )
    git(root, "checkout", "-q", "-b", "other", shas["deploy"])
    shas["other"] = commit(root, ["orders-api/other.yaml"], "on a branch", "2026-11-20T08:00Z")
    git(root, "checkout", "-q", "main")
    return root, shas


def fetch(repo: Path, **fields: object) -> pd.DataFrame:
    section = GitSource.model_validate({"kind": "git", "repo": str(repo), **fields})
    workspace = Workspace(root=repo.parent, settings=None)  # type: ignore[arg-type]
    frame = git_source(workspace, section, FetchRange(START, END)).frames["changes"]
    return frame.sort_values(["timestamp", "service"]).reset_index(drop=True)


def rows(frame: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    return [
        (t.strftime("%H:%M"), s, k, m)
        for t, s, k, m in frame[["timestamp", "service", "kind", "summary"]].itertuples(index=False)
    ]


def test_commits_in_the_range_become_one_change_per_service(
    repo: tuple[Path, dict[str, str]],
) -> None:
    """UTC from any offset; kind from the first matching glob; service from a trailer, else
    the folder below the glob (or the top folder); first-parent history; data stays data."""
    root, shas = repo
    frame = fetch(root, paths=PATHS)
    assert rows(frame) == [
        ("07:00", "orders-api", "deploy", "orders-api v2.15: rollout"),
        ("08:15", "orders-api", "deploy", NASTY),
        ("08:15", "orders-consumer", "config", NASTY),
        ("09:00", "orders-warehouse", "schema", "Bump schema"),
        ("10:00", "orders-api", "config", "odd file name"),  # no glob: default kind, top folder
        ("10:30", "orders-consumer", "flag", "Merge feature"),  # what landed, not the branch
    ]
    assert str(frame["timestamp"].dtype) == "datetime64[us, UTC]"
    assert set(frame["author"]) == {"Ana Ops"}
    assert frame["ref"].tolist() == [shas[n] for n in ("deploy", "nasty", "nasty", "trailer")] + [
        shas["newline"],
        shas["merge"],
    ]


def test_author_time_branch_and_fixed_service(repo: tuple[Path, dict[str, str]]) -> None:
    """`time = "author"` takes a commit written in the range though committed later; `branch`
    reads another line of history; `service` names every commit's service."""
    root, shas = repo
    by_author = fetch(root, paths=PATHS, time="author")
    assert ("11:00", "orders-api", "config", "written in the range, committed after it") in rows(
        by_author
    )
    assert shas["late"] not in set(fetch(root, paths=PATHS)["ref"])
    other = fetch(root, paths=PATHS, branch="other")
    assert rows(other) == [
        ("07:00", "orders-api", "deploy", "orders-api v2.15: rollout"),
        ("08:00", "orders-api", "config", "on a branch"),
    ]
    fixed = fetch(root, service="orders-api", default_kind="deploy")
    assert set(fixed["service"]) == {"orders-api", "orders-warehouse"}  # the trailer still wins
    assert set(fixed.loc[fixed["service"] == "orders-api", "kind"]) == {"deploy"}


def test_commits_naming_no_service_count_for_every_service_asked_about(tmp_path: Path) -> None:
    """A top-level Dockerfile, a glob naming one file (helm/values.yaml), an empty commit and
    a commit beside a top-level Makefile may change any service: each counts for the alert's
    service and its upstreams (noted in the manifest), never dropped as "no change". Asked
    about no service, the change log is partial, so changes are not covered."""
    root = tmp_path / "mono"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, ["Dockerfile"], "bump base image", "2026-11-20T07:00:00Z")
    commit(root, ["helm/values.yaml"], "raise replicas", "2026-11-20T08:00:00Z")
    commit(root, [], "redeploy everything", "2026-11-20T09:00:00Z")
    commit(root, ["orders-api/app.yaml", "Makefile"], "api tweak and build", "2026-11-20T10:00Z")
    section = GitSource.model_validate(
        {"kind": "git", "repo": str(root), "paths": {"helm/values.yaml": "deploy", **PATHS}}
    )
    workspace = Workspace(root=tmp_path, settings=None)  # type: ignore[arg-type]
    asked = FetchRange(START, END, services=("orders-consumer", "orders-api"))
    fetched = git_source(workspace, section, asked)
    frame = fetched.frames["changes"].sort_values(["timestamp", "service"])
    assert rows(frame) == [
        (hour, service, kind, summary)
        for hour, kind, summary in [
            ("07:00", "config", "bump base image"),
            ("08:00", "deploy", "raise replicas"),
            ("09:00", "config", "redeploy everything"),
            ("10:00", "config", "api tweak and build"),
        ]
        for service in ("orders-api", "orders-consumer")
    ]
    assert fetched.errors == []
    [note] = fetched.notes
    assert note == (
        "4 commit(s) change files that name no service (top-level files, a glob naming one file, "
        "or no file), newest first: 'api tweak and build', 'redeploy everything', 'raise "
        "replicas' and 1 more — "
        "counted as changes of every service asked about (orders-consumer, orders-api)"
    )
    record = source_record(1, section, fetched, None, asked)
    assert (record["status"], record["notes"], record["problem"]) == ("ok", [note], None)
    assert coverage([record], "changes").covers

    nobody = FetchRange(START, END)
    alone = git_source(workspace, section, nobody)
    assert alone.frames["changes"]["summary"].tolist() == ["api tweak and build"]
    record = source_record(1, section, alone, None, nobody)
    assert record["status"] == "partial"
    assert record["problem"].startswith(f"source 1 (git {root}): 4 commit(s) change files")
    assert record["problem"].endswith("hypotheses needing changes will be inconclusive")
    found = coverage([record], "changes")
    assert not found.covers
    assert found.missing.startswith(f"changes (source 1 (git {root}) answered in part: 4 commit")


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"repo": "no-such-repo"}, "git repository not found"),
        ({"repo": "."}, "not a git repository"),
        ({"branch": "no-such-branch"}, "branch 'no-such-branch' not found"),
    ],
)
def test_repository_mistakes_are_config_errors(
    repo: tuple[Path, dict[str, str]], tmp_path: Path, fields: dict[str, str], fragment: str
) -> None:
    root, _ = repo
    target = {"repo": str(root), **fields}
    if fields.get("repo") == ".":
        target["repo"] = str(tmp_path)  # a folder, not a repository
    with pytest.raises(EvidenceError, match=fragment) as info:
        fetch(Path(target.pop("repo")), **target)
    assert info.value.exit_code == 2


def _workspace(root: Path, repo: Path) -> Workspace:
    config = (root / "rca.toml").read_text()
    source = f'[[sources]]\nkind = "git"\nrepo = "{repo}"\n[sources.paths]\n' + "".join(
        f'"{glob}" = "{kind}"\n' for glob, kind in PATHS.items()
    )
    (root / "rca.toml").write_text(config.replace("[topology]", source + "\n[topology]"))
    return find_workspace(root)


def test_files_and_git_combined_each_recorded(
    repo: tuple[Path, dict[str, str]], workspace_dir: Path, tmp_path: Path
) -> None:
    """Both sources' changes are concatenated; each source has its manifest record; a git
    source with nothing in the range is "empty" yet still evidence that nothing changed."""
    root, _ = repo
    workspace = _workspace(workspace_dir, root)
    window = Window(START + timedelta(hours=3), START + timedelta(hours=4.5))  # demo data: ≤ 10:01
    onset = START + timedelta(hours=3.5)
    context = {"service": "orders-consumer", "onset": onset.isoformat(), "topology": {}}
    freeze(workspace, tmp_path / "a", window=window, lookback_start=START, context=context)
    evidence = load_evidence(tmp_path / "a")
    files, git_record = evidence.sources
    assert (files["kind"], files["status"], git_record["kind"], git_record["status"]) == (
        "files",
        "ok",
        "git",
        "ok",
    )
    assert git_record["rows"] == {"changes": 7}  # README.md, top-level: orders-consumer's too
    assert git_record["notes"] == [
        "1 commit(s) change files that name no service (top-level files, a glob naming one file, "
        "or no file), newest first: 'docs only' — counted as changes of every service asked "
        "about "
        "(orders-consumer)"
    ]
    assert git_record["span"]["changes"]["first"] == "2026-11-20T07:00:00+00:00"
    assert git_record["covers"] == {"changes": True}
    assert "orders-api v2.15: rollout" in set(evidence.changes["summary"])
    assert len(evidence.changes) == git_record["rows"]["changes"] + files["rows"]["changes"]
    assert evidence.provided("changes")
    assert evidence.source_errors == []

    quiet = Window(START - timedelta(days=3), START - timedelta(days=2))
    freeze(workspace, tmp_path / "b", window=quiet, lookback_start=quiet.start, context=context)
    record = json.loads((tmp_path / "b" / "manifest.json").read_text())["sources"][1]
    assert record["status"] == "empty"
    assert record["problem"].endswith("no changes in the snapshot's range — read as: none happened")
    assert load_evidence(tmp_path / "b").coverage("changes").covers
