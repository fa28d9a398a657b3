"""Which files hold secrets, so that they are never indexed, read or grepped (issue #13).

Two checks, both cheap enough to run on every file that is (re)indexed:

* **by name** (:func:`secret_name`): files whose name says they hold credentials
  (``.env``, private keys, keystores, ``.netrc``, Terraform state, kubeconfig ...,
  :data:`SECRET_FILE_NAMES` and friends). The list follows the credential files of
  GitHub's gitignore templates (``github/gitignore``: Node, Python, Terraform,
  Java keystores) and the sensitive-file signatures of secret scanners (shhgit,
  GitGuardian). Example files meant to be committed with placeholders
  (``.env.example``, ``.env.sample``, ``.env.template``, ``.env.dist``) are *not*
  excluded by name: their content is still scanned like any other file.
* **by content** (:meth:`SecretPolicy.by_content`): Yelp's ``detect-secrets``
  plugins for credentials of a known shape (:data:`CONTENT_PLUGINS`: private key
  blocks, AWS, GitHub, GitLab, Slack, Stripe, npm, PyPI, OpenAI, SendGrid ... tokens,
  JWTs, passwords in URLs). The generic high-entropy and keyword plugins are left
  out: they flag hashes in lock files, base64 data and ``password = "..."`` in
  ordinary code and tests (``bench/secrets_scan.py`` measures the rate on real code).
  The library's own false-positive filters are applied (sequential strings, UUIDs,
  templated values such as ``${TOKEN}``, lock files), and so is its inline
  allow-list: a line carrying ``pragma: allowlist secret`` is not a finding.

Each plugin's patterns are first run over the whole text at C speed; only the
lines they hit go through the plugin and the filters, so a clean file costs a
few regular-expression passes (see ``docs/api.md``, "Secrets", for the measured
cost per MB).

Users opt in per root: ``index_secrets = true`` turns both checks off, and
``secrets_allow`` (gitignore-style globs) exempts files known to be safe.
A finding is reported by its type and line ("AWS Access Key on line 3"), never
by its value.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pathspec
from pathspec.patterns.gitignore import GitIgnorePatternError

from conexus.errors import ConfigError
from conexus.models import content_hash
from conexus.sources.filesystem.globs import gitignore_spec

if TYPE_CHECKING:
    from detect_secrets.plugins.base import RegexBasedDetector

__all__ = [
    "CONTENT_PLUGINS",
    "SECRET_FILE_NAMES",
    "SECRET_FILE_SUFFIXES",
    "SECRET_PATH_TAILS",
    "SecretPolicy",
    "secret_name",
    "secret_policy",
]

# -- by name --------------------------------------------------------------------------------------

#: Exact file names that hold credentials, with what they are.
SECRET_FILE_NAMES: dict[str, str] = {
    ".env": "dotenv file",
    ".envrc": "direnv file",
    ".netrc": "netrc credentials",
    "_netrc": "netrc credentials",
    ".npmrc": "npm config (auth tokens)",
    ".pypirc": "PyPI config (upload credentials)",
    ".pgpass": "PostgreSQL password file",
    ".my.cnf": "MySQL client config (password)",
    ".htpasswd": "htpasswd file",
    ".git-credentials": "git credential store",
    ".dockercfg": "Docker registry credentials",
    "credentials.json": "credentials file",
    "client_secret.json": "OAuth client secret",
    "service-account.json": "cloud service account key",
    "terraform.tfstate": "Terraform state (holds resource secrets)",
    "terraform.tfstate.backup": "Terraform state (holds resource secrets)",
    "kubeconfig": "Kubernetes credentials",
    "id_rsa": "SSH private key",
    "id_dsa": "SSH private key",
    "id_ecdsa": "SSH private key",
    "id_ed25519": "SSH private key",
    "id_ecdsa_sk": "SSH private key",
    "id_ed25519_sk": "SSH private key",
    "secrets.yml": "secrets file",
    "secrets.yaml": "secrets file",
    "secrets.json": "secrets file",
    "secrets.toml": "secrets file",
}

#: File-name endings that hold keys, keystores or credentials.
SECRET_FILE_SUFFIXES: dict[str, str] = {
    ".pem": "PEM key or certificate",
    ".key": "private key",
    ".p8": "PKCS#8 private key",
    ".p12": "PKCS#12 keystore",
    ".pfx": "PKCS#12 keystore",
    ".jks": "Java keystore",
    ".keystore": "keystore",
    ".bks": "BouncyCastle keystore",
    ".ppk": "PuTTY private key",
    ".kdbx": "KeePass database",
    ".keytab": "Kerberos keytab",
    ".tfstate": "Terraform state (holds resource secrets)",
    ".tfvars": "Terraform variables (often credentials)",
}

#: Paths (their last components) that hold credentials wherever they appear.
SECRET_PATH_TAILS: dict[str, str] = {
    ".aws/credentials": "AWS credentials",
    ".kube/config": "Kubernetes credentials",
    ".docker/config.json": "Docker registry credentials",
    ".config/gh/hosts.yml": "GitHub CLI token",
    ".terraform/terraform.tfstate": "Terraform state (holds resource secrets)",
}

# ``.env.local``, ``.env.production`` ...: the dotenv family, except files meant to be committed.
_DOTENV_PREFIX = ".env."
_DOTENV_EXAMPLES = frozenset({"example", "sample", "template", "dist", "defaults", "schema"})


@lru_cache(maxsize=1 << 16)
def secret_name(path: str) -> str | None:
    """What the name of ``path`` (root-relative, POSIX) says it holds, or None for an ordinary name.

    ``.env.example`` and its siblings are ordinary names: they are scanned by content instead.
    """
    name = path.rsplit("/", 1)[-1]
    lower = name.lower()
    found = SECRET_FILE_NAMES.get(lower)
    if found is not None:
        return found
    if lower.startswith(_DOTENV_PREFIX):
        variant = lower[len(_DOTENV_PREFIX) :]
        return None if variant in _DOTENV_EXAMPLES else "dotenv file"
    dot = lower.rfind(".")
    if dot > 0:
        found = SECRET_FILE_SUFFIXES.get(lower[dot:])
        if found is not None:
            return found
    if "/" in path:
        for tail, what in SECRET_PATH_TAILS.items():
            if path == tail or path.endswith("/" + tail):
                return what
    return None


# -- by content -----------------------------------------------------------------------------------

#: The detect-secrets plugins that run on file content: credentials of a known, specific shape.
CONTENT_PLUGINS: tuple[str, ...] = (
    "PrivateKeyDetector",
    "AWSKeyDetector",
    "AzureStorageKeyDetector",
    "BasicAuthDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "JwtTokenDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TwilioKeyDetector",
)

# Files the library's lock-file filter names hold hashes, not secrets; it is applied per file.
_MAX_FINDINGS = 5


@dataclass(frozen=True, slots=True)
class _Plugin:
    detector: RegexBasedDetector
    prefilter: tuple[re.Pattern[str], ...]  # the plugin's patterns, multi-line, run over the whole text


_plugins_lock = threading.Lock()


@lru_cache(maxsize=8)
def _plugins(names: tuple[str, ...]) -> tuple[_Plugin, ...]:
    """The detect-secrets plugins called ``names``, instantiated once (imported lazily: ~40 ms)."""
    with _plugins_lock:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

        classes: Iterable[type[Any]] = get_mapping_from_secret_type_to_class().values()
        by_name = {cls.__name__: cls for cls in classes}
        out: list[_Plugin] = []
        for name in names:
            detector: Any = by_name[name]()
            patterns = tuple(re.compile(p.pattern, p.flags | re.MULTILINE) for p in detector.denylist)
            out.append(_Plugin(detector, patterns))
        return tuple(out)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    find = text.find
    i = find("\n")
    while i != -1:
        starts.append(i + 1)
        i = find("\n", i + 1)
    return starts


# A value made of a handful of distinct characters is a placeholder (``xxxx``, ``0000``) or data
# (a DNA sequence in regex's tests reads as an AWS key id), not a random credential.
_MIN_DISTINCT_CHARS = 6
# Words that mark a value as a documented placeholder: ``AKIAIOSFODNN7EXAMPLE`` (AWS's own example
# key), ``https://user:mypassword@host`` in docstrings (fsspec, httpx).
_PLACEHOLDER_WORDS = ("example", "dummy", "fake", "placeholder", "redacted", "changeme", "sample", "xxxx")
_PLACEHOLDER_SHORT = ("pass", "pwd", "secret", "token", "key", "user", "repo", "name")
_MAX_SHORT_PLACEHOLDER = 12
# Key material after a private-key marker: a source file that names the marker (a parser's constant)
# holds no key; a key holds a long base64 body on the marker's line or the next ones.
_KEY_BODY = re.compile(r"[A-Za-z0-9+/=]{40,}")
_KEY_BODY_LINES = 4


def _placeholder(value: str) -> bool:
    """True for a value that is obviously a stand-in, not a credential."""
    if len(set(value)) < _MIN_DISTINCT_CHARS:
        return True
    lower = value.lower()
    if any(word in lower for word in _PLACEHOLDER_WORDS):
        return True
    alnum = "".join(c for c in lower if c.isalnum())
    return len(alnum) <= _MAX_SHORT_PLACEHOLDER and any(word in alnum for word in _PLACEHOLDER_SHORT)


def _has_key_body(lines: list[str], index: int, marker: str) -> bool:
    rest = lines[index].split(marker, 1)[-1]
    following = lines[index + 1 : index + 1 + _KEY_BODY_LINES]
    return any(_KEY_BODY.search(text) for text in (rest, *following))


def _kept(plugin: _Plugin, secret: str, lines: list[str], index: int, filename: str, context: Any) -> bool:
    """Whether a candidate survives the false-positive filters and the inline allow-list.

    detect-secrets' own filters first (sequential strings, UUIDs, templated values such as
    ``${TOKEN}``, ``$VAR``, indirect references, the ``pragma: allowlist secret`` comment),
    then two of ours, measured on site-packages (``bench/secrets_scan.py``): obvious
    placeholders, and private-key markers with no key after them.
    """
    from detect_secrets.filters import allowlist, heuristic

    line = lines[index].rstrip()
    if (
        heuristic.is_sequential_string(secret)
        or heuristic.is_potential_uuid(secret)
        or heuristic.is_templated_secret(secret)
        or heuristic.is_prefixed_with_dollar_sign(secret)
        or heuristic.is_indirect_reference(line)
        or allowlist.is_line_allowlisted(filename, line, context)
    ):
        return False
    if plugin.detector.secret_type == "Private Key":
        return _has_key_body(lines, index, secret)
    return not _placeholder(secret)


def scan_text(text: str, filename: str, plugins: Sequence[str] = CONTENT_PLUGINS) -> list[tuple[str, int]]:
    """The secrets detect-secrets finds in ``text``: ``(type, 1-based line)`` pairs, at most five.

    ``filename`` picks the comment syntax of the allow-list pragma and lets the
    lock-file filter skip ``package-lock.json``, ``poetry.lock`` and the like.
    """
    from detect_secrets.filters.heuristic import is_lock_file
    from detect_secrets.util.code_snippet import get_code_snippet

    if is_lock_file(filename):
        return []
    found: list[tuple[str, int]] = []
    starts: list[int] | None = None
    lines: list[str] | None = None
    for plugin in _plugins(tuple(plugins)):
        candidates: set[int] = set()
        for pattern in plugin.prefilter:
            for match in pattern.finditer(text):
                if starts is None:
                    starts = _line_starts(text)
                first = _line_of(starts, match.start())
                last = _line_of(starts, max(match.start(), match.end() - 1))
                candidates.update(range(first, last + 1))
        if not candidates:
            continue
        if lines is None:
            lines = text.split("\n")
        for index in sorted(candidates):
            line = lines[index].rstrip()
            context = get_code_snippet(lines, index + 1)
            hits = plugin.detector.analyze_line(filename=filename, line=line, line_number=index + 1)
            if any(_kept(plugin, hit.secret_value or "", lines, index, filename, context) for hit in hits):
                found.append((plugin.detector.secret_type, index + 1))
                break  # one finding per plugin is enough to name the type
        if len(found) >= _MAX_FINDINGS:
            break
    return found


def _line_of(starts: list[int], offset: int) -> int:
    """The 0-based line holding ``offset`` (binary search over the line starts)."""
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


def describe_findings(findings: Iterable[tuple[str, int]]) -> str:
    """``"AWS Access Key on line 3, Private Key on line 9"``: types and lines, never values."""
    return ", ".join(f"{kind} on line {line}" for kind, line in findings)


# -- the policy of one root ------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretPolicy:
    """Whether and how a root keeps secret-bearing files out (``index_secrets``, ``secrets_allow``)."""

    index_secrets: bool = False  # True: the user opted in; nothing is excluded for holding secrets
    allow: tuple[str, ...] = ()  # gitignore-style globs of files known to be safe
    plugins: tuple[str, ...] = CONTENT_PLUGINS
    _allow_spec: pathspec.GitIgnoreSpec | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Compile ``allow``.

        Raises:
            ConfigError: a ``secrets_allow`` pattern is not a valid gitignore-style glob.
        """
        if self.allow:
            try:
                spec = gitignore_spec(self.allow)
            except (GitIgnorePatternError, ValueError) as exc:
                raise ConfigError(f"invalid secrets_allow pattern: {exc}") from exc
            object.__setattr__(self, "_allow_spec", spec)

    @property
    def active(self) -> bool:
        """False when the user opted in to indexing secrets."""
        return not self.index_secrets

    def allowed(self, path: str) -> bool:
        """True when ``path`` is exempt: secrets are indexed, or it matches ``secrets_allow``."""
        if self.index_secrets:
            return True
        return self._allow_spec is not None and self._allow_spec.match_file(path)

    def by_name(self, path: str) -> str | None:
        """The skip detail when the name of ``path`` marks it as secret-bearing, else None."""
        if self.index_secrets:
            return None
        what = secret_name(path)
        if what is None or self.allowed(path):
            return None
        return f"{what} (by name; allow it with secrets_allow)"

    def by_content(self, path: str, text: str) -> str | None:
        """The skip detail when ``text`` holds a secret of a known shape, else None."""
        if self.index_secrets or self.allowed(path):
            return None
        findings = scan_text(text, path, self.plugins)
        if not findings:
            return None
        return f"detect-secrets: {describe_findings(findings)}"

    def withheld(
        self, path: str, text: str, indexed_hash: str | None = None, *, text_hash: str | None = None
    ) -> str | None:
        """Why a tool must not show ``text`` of ``path`` (the skip detail), or None.

        ``indexed_hash`` is the content hash the index holds for ``path``: text
        equal to what was indexed passed the content scan then, so only new
        content is scanned (read and grep stay as fast as before on indexed files).
        ``text_hash`` is ``text``'s content hash when the caller has it already.
        """
        if self.index_secrets:
            return None
        why = self.by_name(path)
        if why is None and (
            indexed_hash is None
            or indexed_hash != (text_hash if text_hash is not None else content_hash(text))
        ):
            why = self.by_content(path, text)
        return why


@lru_cache(maxsize=64)
def secret_policy(index_secrets: bool, allow: tuple[str, ...]) -> SecretPolicy:
    """The (cached) policy for these settings."""
    return SecretPolicy(index_secrets=index_secrets, allow=allow)
