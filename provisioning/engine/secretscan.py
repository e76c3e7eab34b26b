"""Telling a literal secret from a `${VAR}` reference in MCP server settings.

Used twice: manifest validation refuses a literal secret in `mcp_servers` (line and
column, docs/bmad.md#mcp-secrets), and the gap analysis reports one committed in any MCP
configuration file of the repository. Every answer names the *kind* of secret ("a GitHub
token", "a high-entropy string") and never the value: answers end up in pages, plans,
API answers and logs.

What counts as a secret, on the text left once every `${NAME}` reference is taken out
(the literal default of `${NAME:-default}` stays in, it is committed text too):

- a known token shape (GitHub, GitLab, Slack, AWS, OpenAI/Anthropic-style `sk-`, Stripe,
  Google, npm, Hugging Face, Linear, a JWT, a PEM private key);
- an assignment such as `password=…`, `token: …` or `api_key=…` with a literal value;
- a user name and password in a URL, or a literal credential after `Bearer`/`Basic`;
- in environment and header values only (`strict`): any run of 20 or more letters,
  digits, `+`, `/`, `=` or `_` that mixes letters and digits with more than 3.5 bits of
  entropy per character, and any literal value at all under a name that says it holds a
  secret (`*_TOKEN`, `*_SECRET`, `*PASSWORD*`, `*_API_KEY`, `Authorization`, `Cookie`,
  `X-Api-Key` …), where only a scheme word (`Bearer `, `Basic `, `token `) may stay literal.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
REFERENCE = re.compile(r"\$\{(" + NAME + r")(?::-([^}]*))?\}")
# What the tools' own files use besides: Cursor and VS Code `${env:NAME}`, VS Code
# `${input:id}` and `${workspaceFolder}`, opencode `{env:NAME}`.
ANY_REFERENCE = re.compile(
    r"\$\{(?:(?:env|input):)?[A-Za-z_][\w.-]*(?::-([^}]*))?\}|\{env:" + NAME + r"\}"
)
_DOLLAR_WORD = re.compile(r"\$" + NAME)

_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,})")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("an AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("an API secret key (sk-…)", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    ("a Stripe key", re.compile(r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("an npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}")),
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("a Linear API key", re.compile(r"\blin_api_[A-Za-z0-9]{30,}")),
    ("a JSON Web Token", re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)
_ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:password|passwd|pwd|secret|client[_-]?secret|token|"
    r"access[_-]?token|auth[_-]?token|api[_-]?key|apikey|access[_-]?key|private[_-]?key)"
    r"\s*[=:]\s*[^\s&;,'\"]+"
)
_URL_CREDENTIALS = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")
_SCHEME_CREDENTIAL = re.compile(r"(?i)\b(?:bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")
_RANDOM_RUN = re.compile(r"[A-Za-z0-9+/=_]{20,}")
_SCHEME_WORDS = re.compile(r"(?i)\s*(?:bearer|basic|token|apikey)?\s*")

_SECRET_PARTS = {
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PWD",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "PAT",
    "COOKIE",
}
_SECRET_PAIRS = {("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY"), ("AUTH", "TOKEN")}
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie"}
_SECRET_FLAGS = re.compile(
    r"(?i)^--?(?:token|password|passwd|secret|client-secret|api-?key|access-?key|auth-token|"
    r"pat|private-key)$"
)


def literal_part(value: str, *, any_syntax: bool = False) -> str:
    """`value` without its `${NAME}` references (defaults kept: they are literal text);
    `any_syntax`: also the reference forms of the tools' own files (`${env:NAME}` …)."""
    if any_syntax:
        return ANY_REFERENCE.sub(lambda m: m.group(1) or "", value)
    return REFERENCE.sub(lambda m: m.group(2) or "", value)


def reference_problem(value: str) -> str | None:
    """Why the `${…}` references in `value` are malformed, or None."""
    rest = REFERENCE.sub("", value)
    if "${" in rest:
        return "has a '${' that is not a reference; write references as ${NAME} or ${NAME:-default}"
    bare = _DOLLAR_WORD.search(rest)
    if bare is not None:
        return (
            f"writes {bare.group(0)} without braces, which is passed on as literal text; "
            f"write ${{{bare.group(0)[1:]}}}"
        )
    return None


def entropy(text: str) -> float:
    """Shannon entropy of `text`, in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _random_looking(text: str) -> bool:
    for run in _RANDOM_RUN.findall(text):
        letters = any(c.isalpha() for c in run)
        digits = sum(c.isdigit() for c in run)
        if letters and digits >= 2 and entropy(run) > 3.5:
            return True
    return False


def secret_kind(value: str, *, strict: bool = False, any_syntax: bool = False) -> str | None:
    """What kind of literal secret `value` carries (never the secret itself), or None.
    `strict`: also high-entropy runs (environment and header values)."""
    text = literal_part(value, any_syntax=any_syntax)
    for kind, shape in _SHAPES:
        if shape.search(text):
            return kind
    if _URL_CREDENTIALS.search(text):
        return "a user name and password in a URL"
    if _ASSIGNMENT.search(text):
        return "a password, token or key assignment"
    if _SCHEME_CREDENTIAL.search(text):
        return "a literal credential after an authorization scheme"
    if strict and _random_looking(text):
        return "a high-entropy string"
    return None


def name_says_secret(name: str, *, header: bool = False) -> bool:
    """Whether an environment variable or header name says its value is a secret."""
    if header and name.lower() in _SECRET_HEADERS:
        return True
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name.upper()) if p]
    if any(p in _SECRET_PARTS for p in parts):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(parts))


def named_secret_kind(
    name: str, value: str, *, header: bool = False, any_syntax: bool = False
) -> str | None:
    """The secret an environment variable or header value carries, judged with its name:
    under a secret's name, anything literal but a scheme word is a secret."""
    found = secret_kind(value, strict=True, any_syntax=any_syntax)
    if found is not None:
        return found
    if name_says_secret(name, header=header):
        rest = _SCHEME_WORDS.sub("", literal_part(value, any_syntax=any_syntax), count=1)
        if rest.strip():
            return f"a literal value under {name!r}, a name for a secret"
    return None


def flag_says_secret(arg: str) -> bool:
    """Whether a command-line argument such as `--token` takes a secret as its next one."""
    return _SECRET_FLAGS.match(arg) is not None


def reference_hint(name: str) -> str:
    """`${NAME}` to suggest for a key (an environment variable name, a header)."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "SECRET"
    if cleaned[0].isdigit():
        cleaned = f"_{cleaned}"
    if name.lower() in _SECRET_HEADERS:
        cleaned = "API_TOKEN"
    return "${" + cleaned + "}"
