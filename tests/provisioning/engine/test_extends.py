"""Shared base manifests: `extends` resolved into one effective manifest, with positions."""

from __future__ import annotations

import textwrap

from provisioning.engine.extends import THIS, effective_yaml, extends_of, resolve_manifest
from provisioning.engine.manifest import load_manifest

SECURITY = textwrap.dedent(
    """\
    apiVersion: bmadweb/v1
    project:
      bmad_version: ">=6.4,<7"
      tools: [claude-code]
    leaders:
      - id: sec-leader
        name: Security Leader
        domain: security
      - id: dev-leader
        name: Base Dev Leader
        domain: engineering
    customizations:
      bmad-agent-pm:
        principles: ["Security first."]
    integrations:
      - workflow: bmad-create-prd
        activation_steps_append: ["Ask sec-leader."]
    """
)

PROJECT = textwrap.dedent(
    """\
    apiVersion: bmadweb/v1
    extends: [security]
    project:
      name: healthai
    leaders:
      - id: dev-leader
        name: Dev Leader
        domain: engineering
      - id: qa-leader
        name: QA Leader
        domain: quality
    """
)


def _lookup(**texts: str):  # type: ignore[no-untyped-def]
    return lambda name: texts.get(name)


def test_bases_merge_by_id_key_and_workflow_with_provenance() -> None:
    result = resolve_manifest(PROJECT, _lookup(security=SECURITY))
    assert result.ok, result.errors
    assert result.manifest is not None
    assert [a.id for a in result.manifest.leaders] == ["sec-leader", "dev-leader", "qa-leader"]
    assert result.manifest.leaders[1].name == "Dev Leader"  # overridden by id
    assert result.manifest.project.name == "healthai"
    assert result.manifest.project.tools == ("claude-code",)
    assert "bmad-agent-pm" in result.manifest.customizations
    assert result.provenance["leaders/sec-leader"] == "security"
    assert result.provenance["leaders/dev-leader"] == THIS
    assert result.provenance["project.bmad_version"] == "security"
    assert result.provenance["integrations/bmad-create-prd"] == "security"
    assert result.base_names == ("security",)
    assert "extends" not in effective_yaml(result)
    assert extends_of(PROJECT) == ("security",)


def test_without_extends_it_is_load_manifest() -> None:
    text = PROJECT.replace("extends: [security]\n", "").replace(
        "  name: healthai\n", '  name: healthai\n  bmad_version: ">=6.4"\n'
    )
    result = resolve_manifest(text)
    assert result.ok
    assert result.manifest == load_manifest(text).manifest
    from provisioning.engine.manifest import sha256

    assert result.effective_sha == sha256(text)


def test_a_missing_base_is_an_error_at_its_entry() -> None:
    result = resolve_manifest(PROJECT, _lookup())
    assert not result.ok
    [error] = [e for e in result.errors if e.path == "extends[0]"]
    assert (error.line, error.column) == (2, 11)
    assert "no base manifest named 'security'" in error.message


def test_cycles_are_errors() -> None:
    a = "apiVersion: bmadweb/v1\nextends: [b]\n"
    b = "apiVersion: bmadweb/v1\nextends: [a]\n"
    result = resolve_manifest(PROJECT.replace("[security]", "[a]"), _lookup(a=a, b=b))
    messages = [e.message for e in result.errors]
    assert any("cycle: a → b → a" in m for m in messages), messages
    assert all(e.line == 2 for e in result.errors if "cycle" in e.message)


def test_two_bases_defining_one_leader_conflict_unless_overridden() -> None:
    other = "apiVersion: bmadweb/v1\nleaders:\n  - id: sec-leader\n    name: S\n    domain: s\n"
    text = PROJECT.replace("[security]", "[security, other]")
    result = resolve_manifest(text, _lookup(security=SECURITY, other=other))
    [error] = result.errors
    assert (error.line, error.column) == (2, 21)
    assert "'sec-leader' comes from both base 'security' and base 'other'" in error.message
    overriding = text + "  - id: sec-leader\n    name: Mine\n    domain: s\n"
    assert resolve_manifest(overriding, _lookup(security=SECURITY, other=other)).ok


def test_errors_inside_a_base_name_the_base_line_and_column() -> None:
    bad = SECURITY.replace("domain: security", "domain: [x]")
    result = resolve_manifest(PROJECT, _lookup(security=bad))
    [error] = [e for e in result.errors if e.path.startswith("extends")]
    assert (error.line, error.path) == (2, "extends[0]")
    assert "base 'security', line 8, column 13: leaders[0].domain" in error.message


def test_a_specialist_clashing_with_a_base_leader_names_the_base() -> None:
    text = PROJECT + (
        "  - id: x-leader\n    name: X\n    domain: x\n    specialists:\n"
        "      - id: sec-leader\n        name: S\n        domain: s\n"
    )
    result = resolve_manifest(text, _lookup(security=SECURITY))
    assert [e.line for e in result.errors] == [16]
    assert "already used at leaders[0].id" in result.errors[0].message


def test_root_errors_keep_their_own_positions() -> None:
    text = PROJECT.replace("name: QA Leader", "name: [bad]")
    result = resolve_manifest(text, _lookup(security=SECURITY))
    [error] = result.errors
    assert (error.line, error.path) == (10, "leaders[2].name")


def test_nested_bases_and_the_sha_follow_base_texts() -> None:
    mid = (
        "apiVersion: bmadweb/v1\nextends: [security]\n"
        "leaders:\n  - id: m\n    name: M\n    domain: m\n"
    )
    text = PROJECT.replace("[security]", "[mid]")
    first = resolve_manifest(text, _lookup(security=SECURITY, mid=mid))
    assert first.ok, first.errors
    assert first.provenance["leaders/m"] == "mid"
    assert first.provenance["leaders/sec-leader"] == "security"
    changed = resolve_manifest(text, _lookup(security=SECURITY + "# note\n", mid=mid))
    assert changed.effective_sha != first.effective_sha


def test_check_base_reports_positions_in_the_base_and_self_cycles() -> None:
    from provisioning.engine.extends import check_base

    assert check_base("security", SECURITY) == ()
    bad = check_base("security", SECURITY.replace("domain: security", "domain: [x]"))
    assert [(e.line, e.path) for e in bad] == [(8, "leaders[0].domain")]
    loop = check_base(
        "a",
        "apiVersion: bmadweb/v1\nextends: [b]\n",
        _lookup(b="apiVersion: bmadweb/v1\nextends: [a]\n"),
    )
    assert [e.line for e in loop] == [2]
    assert "cycle: a → b → a" in loop[0].message


MCP_BASE = textwrap.dedent(
    """\
    apiVersion: bmadweb/v1
    project:
      bmad_version: ">=6.4,<7"
      tools: [claude-code]
    mcp_servers_closed: true
    mcp_servers:
      github:
        command: npx
        args: ["-y", "@modelcontextprotocol/server-github"]
        env: {GITHUB_TOKEN: "${GITHUB_TOKEN}"}
    claude_agents:
      - id: reviewer
        description: Reviews changes against the platform's rules.
        body: Review the diff against the platform's rules.
    """
)

MCP_PROJECT = textwrap.dedent(
    """\
    apiVersion: bmadweb/v1
    extends: [platform]
    project:
      name: healthai
    mcp_servers_closed: false
    mcp_servers:
      linear:
        type: http
        url: https://mcp.linear.app/sse
    claude_agents:
      - id: reviewer
        description: Reviews changes with our own checklist.
        body: Review the diff with our checklist.
      - id: tester
        description: Writes the missing tests.
        body: Write the tests that are missing.
    """
)


def test_mcp_servers_and_subagents_inherit_by_name_and_id() -> None:
    result = resolve_manifest(MCP_PROJECT, _lookup(platform=MCP_BASE))
    assert result.ok, result.errors
    assert result.manifest is not None
    assert sorted(result.manifest.mcp_servers) == ["github", "linear"]
    agents = {a.id: a.description for a in result.manifest.claude_agents}
    assert agents == {
        "reviewer": "Reviews changes with our own checklist.",  # overridden by id
        "tester": "Writes the missing tests.",
    }
    assert result.provenance["mcp_servers/github"] == "platform"
    assert result.provenance["claude_agents/reviewer"] == THIS


def test_a_list_a_base_closed_stays_closed() -> None:
    result = resolve_manifest(MCP_PROJECT, _lookup(platform=MCP_BASE))
    assert result.manifest is not None
    assert result.manifest.mcp_servers_closed is True
    opened = MCP_BASE.replace("mcp_servers_closed: true", "mcp_servers_closed: false")
    result = resolve_manifest(
        MCP_PROJECT.replace("mcp_servers_closed: false", "mcp_servers_closed: true"),
        _lookup(platform=opened),
    )
    assert result.manifest is not None
    assert result.manifest.mcp_servers_closed is True  # the project may close it itself


def test_a_result_of_the_text_alone_is_kept_and_one_using_bases_never() -> None:
    """A valid manifest that used no base is resolved once per text (a fleet's drift
    checks resolve the same manifests over and over); one with `extends` asks for its
    bases every time, so a new base revision is always seen."""
    plain = SECURITY.replace("project:\n", "project:\n  name: plain\n") + "# kept\n"
    first = resolve_manifest(plain)
    assert first.ok
    assert not first.bases
    assert resolve_manifest(plain) is first
    asked: list[str] = []
    texts = {"security": SECURITY}

    def lookup(name: str) -> str | None:
        asked.append(name)
        return texts.get(name)

    before = resolve_manifest(PROJECT, lookup)
    texts["security"] = SECURITY.replace("Security first.", "Security always.")
    after = resolve_manifest(PROJECT, lookup)
    assert asked == ["security", "security"]
    assert before.effective_sha != after.effective_sha
    broken = plain.replace("name: plain", "name: [not, a, name]")
    assert resolve_manifest(broken) is not resolve_manifest(broken)  # errors: not kept
    padded = plain + "# " + "x" * (64 * 1024) + "\n"
    assert resolve_manifest(padded).ok
    assert resolve_manifest(padded) is not resolve_manifest(padded)  # too long to keep
