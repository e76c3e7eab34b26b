"""Manifest sections for MCP servers and Claude Code subagents: they load, they grow the
published schema, and a literal secret is an error with its line and column whose
message never repeats the secret."""

from __future__ import annotations

import json
import textwrap

import pytest

from provisioning.engine import secretscan
from provisioning.engine.manifest import (
    ClaudeAgent,
    McpServer,
    load_manifest,
    manifest_json_schema,
)

HEAD = textwrap.dedent(
    """\
    apiVersion: bmadweb/v1
    project:
      name: fleet
      bmad_version: ">=6.4,<7"
      tools: [claude-code, cursor]
    """
)
GOOD = HEAD + textwrap.dedent(
    """\
    mcp_servers:
      github:
        command: npx
        args: ["-y", "@modelcontextprotocol/server-github"]
        env:
          GITHUB_PERSONAL_ACCESS_TOKEN: "${GITHUB_TOKEN}"
          LOG_LEVEL: "${LOG_LEVEL:-info}"
          NODE_ENV: production
      sentry:
        type: http
        url: https://mcp.sentry.dev/mcp
        headers:
          Authorization: "Bearer ${SENTRY_TOKEN}"
          Accept: application/json
      postgres:
        type: stdio
        command: uvx
        args: [postgres-mcp, "postgresql://${PGUSER}:${PGPASSWORD}@db.internal:5432/app"]
    mcp_servers_closed: true
    claude_agents:
      - id: security-reviewer
        description: Reviews diffs for security issues. Use proactively after code changes.
        tools: [Read, Grep, Glob, "Bash(git diff:*)"]
        model: sonnet
        mcp_servers: [github]
        body: |
          You are a security reviewer. Read the diff, then report findings by severity.
      - id: compliance-checker
        description: Checks changes against the team's compliance rules.
        body: Check every change against docs/compliance.md.
    """
)


def errors(text: str) -> dict[str, tuple[int, int, str]]:
    result = load_manifest(text)
    assert result.manifest is None, "expected the manifest to be refused"
    return {e.path: (e.line, e.column, e.message) for e in result.errors}


def with_env(value: str, name: str = "API_TOKEN") -> str:
    return HEAD + textwrap.dedent(
        f"""\
        mcp_servers:
          svc:
            command: svc-mcp
            env:
              {name}: {json.dumps(value)}
        """
    )


def with_header(name: str, value: str) -> str:
    return HEAD + textwrap.dedent(
        f"""\
        mcp_servers:
          svc:
            type: http
            url: https://svc.example.test/mcp
            headers:
              {name}: {json.dumps(value)}
        """
    )


def test_the_fleet_example_loads() -> None:
    result = load_manifest(GOOD)
    assert result.ok, result.errors
    manifest = result.manifest
    assert manifest is not None
    assert list(manifest.mcp_servers) == ["github", "sentry", "postgres"]
    github = manifest.mcp_servers["github"]
    assert isinstance(github, McpServer)
    assert github.env["GITHUB_PERSONAL_ACCESS_TOKEN"] == "${GITHUB_TOKEN}"
    assert not github.remote
    assert manifest.mcp_servers["sentry"].remote
    assert manifest.mcp_servers_closed is True
    reviewer, checker = manifest.claude_agents
    assert isinstance(reviewer, ClaudeAgent)
    assert reviewer.tools == ("Read", "Grep", "Glob", "Bash(git diff:*)")
    assert reviewer.mcp_servers == ("github",)
    assert checker.model == "inherit"
    assert checker.tools == ()


def test_manifests_without_the_new_sections_still_load() -> None:
    result = load_manifest(HEAD)
    assert result.ok
    assert result.manifest is not None
    assert result.manifest.mcp_servers == {}
    assert result.manifest.claude_agents == ()
    assert result.manifest.mcp_servers_closed is False


SECRET = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (SECRET, "GitHub token"),
        ("glpat-" + "x1Y2z3A4b5C6d7E8f9G0", "GitLab token"),
        ("xoxb-" + "1234567890-abcdefghij", "Slack token"),
        ("AKIA" + "IOSFODNN7EXAMPLE", "AWS access key"),
        ("sk-ant-" + "api03-abcdefghijklmnopqrstuvwx", "sk-"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "JSON Web"),
        ("password=" + "hunter2", "assignment"),
        ("https://admin:" + "s3cret@db.example.test/app", "URL"),
        ("aZ3kP9qL2mN8vB4xC7tR1yW6", "high-entropy"),
        ("${API_TOKEN:-" + SECRET + "}", "GitHub token"),  # a default is committed text too
    ],
)
def test_a_literal_secret_in_an_environment_value_is_an_error_at_its_position(
    value: str, kind: str
) -> None:
    text = with_env(value, "SETTING")
    line, column, message = errors(text)["mcp_servers.svc.env.SETTING"]
    assert (line, column) == (10, 16)
    assert text.splitlines()[line - 1][column - 1] == '"'
    assert kind in message
    assert "${SETTING}" in message
    assert value not in message
    for fragment in (value[4:16], value[-8:]):
        assert fragment not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Authorization", "Bearer abc123"),
        ("Authorization", "token " + "x" * 3),
        ("X-Api-Key", "plain"),
        ("Cookie", "session=1"),
        ("Private-Token", "something"),
    ],
)
def test_a_literal_value_in_a_secret_header_is_an_error(name: str, value: str) -> None:
    line, column, message = errors(with_header(name, value))[f"mcp_servers.svc.headers.{name}"]
    assert (line, column) == (11, len(name) + 9)
    assert "secret" in message
    assert value not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GITHUB_TOKEN", "not-a-reference"),
        ("DB_PASSWORD", "hunter2"),
        ("OPENAI_API_KEY", "123"),
        ("CLIENT_SECRET", "x"),
        ("AWS_ACCESS_KEY_ID", "abc"),
    ],
)
def test_a_literal_under_a_secret_name_is_an_error(name: str, value: str) -> None:
    found = errors(with_env(value, name))
    assert f"mcp_servers.svc.env.{name}" in found
    assert value not in found[f"mcp_servers.svc.env.{name}"][2]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GITHUB_TOKEN", "${GITHUB_TOKEN}"),
        ("LOG_LEVEL", "debug"),
        ("NODE_ENV", "production"),
        ("MAX_TOKENS", "4096"),
        ("MODEL", "claude-3-5-sonnet-20241022"),
        ("ALLOWED_PATHS", "/srv/projects/app-2024/docs"),
        ("UPSTREAM", "https://api.example.test/v1/graphql"),
        ("DB_PASSWORD", ""),
        ("DEFAULT_TIMEOUT", "${TIMEOUT:-30}"),
        ("PACKAGE", "@modelcontextprotocol/server-filesystem"),
    ],
)
def test_references_and_ordinary_settings_are_accepted(name: str, value: str) -> None:
    assert load_manifest(with_env(value, name)).ok


def test_a_header_may_keep_its_scheme_word_literal() -> None:
    assert load_manifest(with_header("Authorization", "Bearer ${SENTRY_TOKEN}")).ok
    assert load_manifest(with_header("Authorization", "Basic ${BASIC_AUTH}")).ok
    assert load_manifest(with_header("X-Request-Source", "bmadweb")).ok


def test_malformed_references_are_errors() -> None:
    assert (
        "without braces"
        in errors(with_env("$HOME/bin", "EXTRA_PATH"))["mcp_servers.svc.env.EXTRA_PATH"][2]
    )
    assert (
        "not a reference" in errors(with_env("${API", "SETTING"))["mcp_servers.svc.env.SETTING"][2]
    )


def test_secrets_in_args_command_and_url_are_errors_too() -> None:
    text = HEAD + textwrap.dedent(
        f"""\
        mcp_servers:
          pg:
            command: pg-mcp
            args: ["--token", "abc", "--api-key=x{SECRET}", "postgresql://u:p4ss@db/app"]
          remote:
            type: sse
            url: "https://mcp.example.test/sse?api_key=abcdef"
        """
    )
    found = errors(text)
    assert set(found) == {
        "mcp_servers.pg.args[1]",
        "mcp_servers.pg.args[2]",
        "mcp_servers.pg.args[3]",
        "mcp_servers.remote.url",
    }
    assert found["mcp_servers.pg.args[1]"][:2] == (9, 23)
    for _, _, message in found.values():
        assert "abc" not in message
        assert SECRET not in message


def test_server_shapes_are_checked_with_positions() -> None:
    text = HEAD + textwrap.dedent(
        """\
        mcp_servers:
          no-type:
            url: https://a.example.test/mcp
          remote-with-command:
            type: http
            url: https://b.example.test/mcp
            command: npx
          no-command:
            args: [x]
          bad-url:
            type: http
            url: ftp://c.example.test
          typo:
            comand: npx
        """
    )
    found = errors(text)
    assert found["mcp_servers.no-type.url"][:2] == (8, 10)
    assert "type: http" in found["mcp_servers.no-type.url"][2]
    assert "stdio servers" in found["mcp_servers.remote-with-command.command"][2]
    assert "needs a 'command'" in found["mcp_servers.no-command"][2]
    assert "https://" in found["mcp_servers.bad-url.url"][2]
    assert "did you mean 'command'" in found["mcp_servers.typo.comand"][2]


def test_subagent_rules() -> None:
    text = HEAD + textwrap.dedent(
        """\
        mcp_servers:
          github: {command: npx}
        mcp_servers_closed: "yes"
        claude_agents:
          - id: reviewer
            description: Reviews.
            tools: ["Read, Write"]
            model: gpt-4
            mcp_servers: [github, github, postgres]
            body: "   "
          - id: reviewer
            description: Again.
            body: x
          - id: Bad_Id
            description: ""
            body: x
        """
    )
    found = errors(text)
    assert "true or false" in found["mcp_servers_closed"][2]  # strict: text is not a flag
    assert "no comma" in found["claude_agents[0].tools[0]"][2]
    assert "sonnet" in found["claude_agents[0].model"][2]
    assert "more than once" in found["claude_agents[0].mcp_servers[1]"][2]
    assert "not declared" in found["claude_agents[0].mcp_servers[2]"][2]
    assert "system prompt" in found["claude_agents[0].body"][2]
    assert "already used" in found["claude_agents[1].id"][2]
    assert "lowercase" in found["claude_agents[2].id"][2]
    assert "empty" in found["claude_agents[2].description"][2]


def test_the_published_schema_has_the_new_sections() -> None:
    schema = manifest_json_schema()
    for name in ("mcp_servers", "mcp_servers_closed", "claude_agents"):
        assert name in schema["properties"]
    server = schema["$defs"]["McpServer"]["properties"]
    assert set(server) == {"type", "command", "args", "env", "url", "headers"}
    agent = schema["$defs"]["ClaudeAgent"]
    assert set(agent["required"]) == {"id", "description", "body"}
    assert {"tools", "model", "mcp_servers"} <= set(agent["properties"])
    text = json.dumps(schema)
    assert secretscan.NAME not in text  # patterns are the schema's own, not internals
    assert "patternProperties" in json.dumps(schema["properties"]["mcp_servers"])


@pytest.mark.parametrize(
    "text",
    [
        "@modelcontextprotocol/server-github",
        "claude-3-5-sonnet-20241022",
        "0123456789",
        "DEFAULT_CONNECTION_TIMEOUT_SECONDS",
        "https://mcp.sentry.dev/mcp",
        "${GITHUB_TOKEN}",
        "Bearer ${TOKEN}",
    ],
)
def test_ordinary_text_is_not_a_secret(text: str) -> None:
    assert secretscan.secret_kind(text, strict=True) is None


def test_secret_names() -> None:
    assert secretscan.name_says_secret("GITHUB_PERSONAL_ACCESS_TOKEN")
    assert secretscan.name_says_secret("x-api-key", header=True)
    assert secretscan.name_says_secret("Authorization", header=True)
    assert not secretscan.name_says_secret("MAX_TOKENS")
    assert not secretscan.name_says_secret("AUTHOR")
    assert secretscan.reference_hint("x-api-key") == "${X_API_KEY}"
    assert secretscan.reference_hint("Authorization") == "${API_TOKEN}"
