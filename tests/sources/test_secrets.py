"""Secrets are never indexed, read or grepped by default (issue #13): by name, by content, opt-in per root.

The secret values below are assembled at run time (``"AKIA" + ...``, a key generated
by ``cryptography``), so this file itself holds nothing a scanner would flag.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conexus.engine import Engine
from conexus.errors import ConfigError, PathDeniedError
from conexus.models import SkippedFile, SkipReason
from conexus.sources.base import DocumentRef
from conexus.sources.filesystem import FilesystemSource, WalkOptions
from conexus.sources.filesystem.secrets import SecretPolicy, scan_text, secret_name
from tests.conftest import write

AWS_KEY_ID = "AKIA" + "Z7Q3M5K2XR4TLW6P"
AWS_SECRET = "wJ3kLr9Qx+2mZt8Vb5Nc7Hd1Pf6Gs4Ya0Ue/" + "Wq3R"  # 40 characters
DB_PASSWORD = "Tr0ub4dor-" + "horse-battery-9"
STRIPE_KEY = "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc"


def private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def make_secret_repo(root: Path) -> Path:
    """A project with secrets in the usual places, and ordinary files full of hashes and base64."""
    write(root, ".gitignore", "*.log\n")  # .env is NOT ignored: the case issue #13 describes
    write(root, ".env", f"DATABASE_PASSWORD={DB_PASSWORD}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n")
    write(root, ".env.example", "DATABASE_PASSWORD=\nAWS_SECRET_ACCESS_KEY=\n")
    write(root, "deploy/server.key", private_key_pem())
    write(
        root,
        "app/config.py",
        '"""Settings of the deployment: database and AWS access."""\n\n'
        f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"\n'
        f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"\n'
        'DATABASE_URL = "postgres://app@db.internal/app"  # database password comes from the vault\n',
    )
    blob = base64.b64encode(random.Random(7).randbytes(600)).decode()
    write(
        root,
        "app/assets.py",
        '"""Bundled assets and their checksums (AWS-free, no database password here)."""\n\n'
        f'LOGO_SHA256 = "{hashlib.sha256(b"logo").hexdigest()}"\n'
        f'LOGO_PNG_BASE64 = (\n    "{blob[:400]}"\n    "{blob[400:]}"\n)\n',
    )
    write(
        root,
        "tests/test_settings.py",
        "def test_example_credentials_are_rejected() -> None:\n"
        '    key_id = "AKIAIOSFODNN7EXAMPLE"  # the key id of the AWS documentation\n'
        '    url = "https://user:password@example.com/db"\n'
        "    assert key_id and url\n",
    )
    write(
        root,
        "package-lock.json",
        json.dumps(
            {"packages": {"node_modules/x": {"integrity": "sha512-" + base64.b64encode(bytes(64)).decode()}}}
        ),
    )
    return root


SECRET_FILES = {".env", "deploy/server.key", "app/config.py"}


# -- the rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "secret"),
    [
        (".env", True),
        ("services/api/.env.production", True),
        (".env.example", False),
        (".env.sample", False),
        (".env.template", False),
        ("certs/server.pem", True),
        ("deploy/tls.key", True),
        ("home/.ssh/id_ed25519", True),
        ("home/.ssh/id_ed25519.pub", False),
        ("store/release.jks", True),
        ("client.p12", True),
        (".npmrc", True),
        (".netrc", True),
        ("infra/terraform.tfstate", True),
        ("ops/.kube/config", True),
        ("gcp/credentials.json", True),
        ("src/keys.py", False),
        ("docs/environment.md", False),
        ("src/config.py", False),
    ],
)
def test_secret_bearing_names_are_recognised_and_example_files_are_not(path: str, secret: bool) -> None:
    assert (secret_name(path) is not None) is secret


def test_the_content_scan_names_the_kind_of_secret_and_its_line_never_its_value() -> None:
    text = f'NAME = "demo"\nKEY = "{AWS_KEY_ID}"\nSTRIPE = "{STRIPE_KEY}"\n'
    found = scan_text(text, "settings.py")
    assert ("AWS Access Key", 2) in found and ("Stripe Access Key", 3) in found
    detail = SecretPolicy().by_content("settings.py", text)
    assert detail is not None and "AWS Access Key on line 2" in detail
    assert AWS_KEY_ID not in detail and STRIPE_KEY not in detail


def test_a_private_key_block_is_found_inside_any_file_but_a_parser_naming_the_marker_is_not() -> None:
    embedded = "KEY = '''\n" + private_key_pem() + "'''\n"
    assert [kind for kind, _ in scan_text(embedded, "keys.py")] == ["Private Key"]
    marker = "-----BEGIN " + "OPENSSH PRIVATE KEY-----"
    parser = f'_SK_START = b"{marker}"\n\n\ndef load(data: bytes) -> bytes:\n    return data\n'
    assert scan_text(parser, "ssh.py") == []


def test_hashes_base64_placeholders_lock_files_and_allowlisted_lines_are_not_secrets() -> None:
    blob = base64.b64encode(random.Random(1).randbytes(3000)).decode()
    ordinary = (
        f'DIGEST = "{hashlib.sha256(b"x").hexdigest()}"\nDATA = "{blob}"\n'
        'EXAMPLE_KEY = "AKIAIOSFODNN7EXAMPLE"\nDSN = "https://user:password@example.com"\n'
        'TWILIO_SID = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"\nTOKEN = "${GITHUB_TOKEN}"\n'
        f'ALLOWED = "{AWS_KEY_ID}"  # pragma: allowlist secret\n'
    )
    assert scan_text(ordinary, "module.py") == []
    assert scan_text(f'{{"key": "{AWS_KEY_ID}"}}', "package-lock.json") == []


def test_opting_in_or_allowing_a_path_turns_both_checks_off_for_it() -> None:
    text = f'KEY = "{AWS_KEY_ID}"\n'
    assert SecretPolicy(index_secrets=True).by_name(".env") is None
    assert SecretPolicy(index_secrets=True).by_content("a.py", text) is None
    allowing = SecretPolicy(allow=("fixtures/**", "certs/*.pem"))
    assert allowing.by_content("fixtures/aws.py", text) is None
    assert allowing.by_name("certs/ca.pem") is None
    assert allowing.by_name("deploy/server.pem") is not None
    assert allowing.by_content("src/aws.py", text) is not None


def test_an_invalid_allow_pattern_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="secrets_allow"):
        SecretPolicy(allow=("a/***/b\\",))


# -- the walker and the source ----------------------------------------------------------------------------


def test_the_walker_skips_secret_names_with_reason_secret_and_keeps_example_files(tmp_path: Path) -> None:
    repo = make_secret_repo(tmp_path / "repo")
    entries = {e.path: e for e in FilesystemSource(repo, WalkOptions()).scan()}
    for path in (".env", "deploy/server.key"):
        skipped = entries[path]
        assert isinstance(skipped, SkippedFile) and skipped.reason is SkipReason.SECRET
        assert DB_PASSWORD not in skipped.detail
    assert isinstance(entries[".env.example"], DocumentRef)
    assert isinstance(entries["app/config.py"], DocumentRef)  # its name is ordinary: its content is not
    found = {e.path: e for e in FilesystemSource(repo, WalkOptions()).scan_paths([".env", "app/config.py"])}
    assert isinstance(found[".env"], SkippedFile) and found[".env"].reason is SkipReason.SECRET
    opted_in = {e.path: e for e in FilesystemSource(repo, WalkOptions(index_secrets=True)).scan()}
    assert isinstance(opted_in[".env"], DocumentRef)


# -- the indexer, status, search, read and grep ---------------------------------------------------------


def _indexed_text(engine: Engine) -> str:
    """The search snippets for the issue's query plus every byte of the index files, as text."""
    result = engine.search("AWS_SECRET_ACCESS_KEY database password", top_k=50)
    files = b"".join(p.read_bytes() for p in sorted(engine.index_dir.iterdir()) if p.is_file())
    return "\n".join(h.snippet for h in result.hits) + files.decode("utf-8", "replace")


def test_only_the_secret_files_are_skipped_and_status_says_why(
    tmp_path: Path, make_engine: Callable[..., Engine]
) -> None:
    repo = make_secret_repo(tmp_path / "repo")
    engine = make_engine(repo)
    report = engine.index()
    assert report.skipped.get("secret") == len(SECRET_FILES)
    indexed = set(engine.indexed_files())
    assert not indexed & SECRET_FILES
    assert {"app/assets.py", "tests/test_settings.py", ".env.example"} <= indexed
    status = engine.status()
    assert status["skipped"]["secret"] == len(SECRET_FILES)
    details = {s["path"]: s["detail"] for s in status["secrets"]}
    assert set(details) == SECRET_FILES
    assert "AWS Access Key on line 3" in details["app/config.py"]
    assert "dotenv file" in details[".env"]
    blob = json.dumps(status)
    for value in (AWS_KEY_ID, AWS_SECRET, DB_PASSWORD):
        assert value not in blob
        assert value not in _indexed_text(engine)


def test_opting_in_indexes_the_secret_files(tmp_path: Path, make_engine: Callable[..., Engine]) -> None:
    repo = make_secret_repo(tmp_path / "repo")
    engine = make_engine(repo, index_secrets=True)
    report = engine.index()
    assert "secret" not in report.skipped
    assert set(engine.indexed_files()) >= SECRET_FILES
    assert AWS_SECRET in _indexed_text(engine)


def test_allowing_a_file_by_glob_indexes_just_that_file(
    tmp_path: Path, make_engine: Callable[..., Engine]
) -> None:
    repo = make_secret_repo(tmp_path / "repo")
    engine = make_engine(repo, secrets_allow=("app/config.py",))
    engine.index()
    indexed = set(engine.indexed_files())
    assert "app/config.py" in indexed and not indexed & {".env", "deploy/server.key"}


def test_a_file_that_gains_a_secret_leaves_the_index_on_the_next_update(
    tmp_path: Path, make_engine: Callable[..., Engine]
) -> None:
    repo = make_secret_repo(tmp_path / "repo")
    engine = make_engine(repo)
    engine.index()
    assert "app/assets.py" in engine.indexed_files()
    assets = repo / "app/assets.py"
    assets.write_text(assets.read_text() + f'STRIPE_KEY = "{STRIPE_KEY}"\n')
    report = engine.index(paths=["app/assets.py"])  # what the watcher runs for one edited file
    assert report.files_deleted == 1 and report.skipped == {"secret": 1}
    assert "app/assets.py" not in engine.indexed_files()
    assert STRIPE_KEY not in _indexed_text(engine)

    assets.write_text(assets.read_text().replace(STRIPE_KEY, "read-from-the-environment"))
    engine.index()
    assert "app/assets.py" in engine.indexed_files()


def test_read_refuses_a_secret_file_and_grep_leaves_it_out(
    tmp_path: Path, make_engine: Callable[..., Engine]
) -> None:
    repo = make_secret_repo(tmp_path / "repo")
    engine = make_engine(repo)
    engine.index()
    for path in (".env", "deploy/server.key", "app/config.py"):
        with pytest.raises(PathDeniedError, match="holds secrets") as info:
            engine.read(path)
        assert AWS_SECRET not in str(info.value) and "index_secrets" in str(info.value)
    assert engine.read("app/assets.py").lines  # ordinary files read as before

    result = engine.grep("AWS_SECRET_ACCESS_KEY")
    assert {m.path for m in result.matches} == {".env.example"}
    # An indexed file edited to hold a secret is withheld before the watcher re-indexes it.
    assets = repo / "app/assets.py"
    assets.write_text(assets.read_text() + f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"\n')
    result = engine.grep("AWS_SECRET_ACCESS_KEY")
    assert "app/assets.py" not in {m.path for m in result.matches} and result.files_skipped >= 1
    with pytest.raises(PathDeniedError):
        engine.read("app/assets.py")
    # The MCP file resources ask the engine the same question.
    assert engine.withheld("app/assets.py", assets.read_text()) is not None
    assert engine.withheld("tests/test_settings.py", (repo / "tests/test_settings.py").read_text()) is None


def test_read_and_grep_serve_secret_files_when_the_root_opts_in(
    tmp_path: Path, make_engine: Callable[..., Engine]
) -> None:
    repo = make_secret_repo(tmp_path / "repo")
    engine = make_engine(repo, index_secrets=True)
    engine.index()
    assert any(DB_PASSWORD in line for _, line in engine.read(".env").lines)
    assert ".env" in {m.path for m in engine.grep("AWS_SECRET_ACCESS_KEY").matches}


def test_the_cli_search_status_and_read_print_no_secret_value(tmp_path: Path, home: Path) -> None:
    repo = make_secret_repo(tmp_path / "repo")
    env = {**os.environ, "CONEXUS_HOME": str(home), "CONEXUS_EMBEDDER": "fake"}

    def conexus(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "conexus", *args],
            capture_output=True,
            text=True,
            env={**env, **extra},
            cwd=repo,
            timeout=120,
        )

    indexed = conexus("index", str(repo), "--quiet")
    assert indexed.returncode == 0, indexed.stderr
    searched = conexus("search", "AWS_SECRET_ACCESS_KEY database password", "-k", "20")
    status = conexus("status")
    read = conexus("read", ".env")
    assert searched.returncode == 0 and status.returncode == 0, searched.stderr + status.stderr
    assert read.returncode != 0 and "holds secrets" in read.stderr
    assert "secret 3" in status.stdout and "not indexed because they hold secrets" in status.stdout
    for out in (searched, status, read):
        for value in (AWS_KEY_ID, AWS_SECRET, DB_PASSWORD):
            assert value not in out.stdout + out.stderr

    opted = conexus("index", str(repo), "--quiet", CONEXUS_INDEX_SECRETS="true")
    assert opted.returncode == 0, opted.stderr
    searched = conexus("search", "AWS_SECRET_ACCESS_KEY", "-k", "20", CONEXUS_INDEX_SECRETS="true")
    assert AWS_SECRET in searched.stdout
