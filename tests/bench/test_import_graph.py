"""bench.import_graph on the related-info fixture repository: a real index, graph and localization."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bench.import_graph import main

from tests.conftest import FIXTURES


def test_it_times_the_graph_and_localization_with_and_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "related_repo", repo)
    issues = tmp_path / "issues.jsonl"
    issues.write_text(
        json.dumps({"instance_id": "shop-1", "problem_statement": "cart total rounds money wrong"}) + "\n"
        + json.dumps({"instance_id": "other-1", "problem_statement": "unrelated"}) + "\n"
    )  # fmt: skip
    base = [str(repo), "--home", str(tmp_path / "home"), "--issues", str(issues)]
    assert main([*base, "--match", "shop"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["issues"] == 1
    assert out["graph_files"] >= 10  # the fixture's Python, TypeScript and Go files are in the graph
    assert out["cold_build_s"] > 0 and out["new_generation_s"] > 0
    assert out["with_graph_ms"] > 0 and out["without_graph_ms"] > 0
    with pytest.raises(SystemExit):
        main([*base, "--match", "none-such"])
