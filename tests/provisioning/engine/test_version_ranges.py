"""Everything that validates also runs (docs/security.md#s10): a version range the schema
accepts is one the analysis can evaluate against any installed version."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.engine.findings import _version_findings
from provisioning.engine.manifest import load_manifest
from provisioning.engine.types import BmadInstall, Generation

MANIFEST = """\
apiVersion: bmadweb/v1
project:
  name: healthai
  bmad_version: {spec}
leaders: []
"""


def _load(spec: str):  # type: ignore[no-untyped-def]
    return load_manifest(MANIFEST.format(spec=spec.replace("'", "''").join("''")))


@pytest.mark.parametrize(
    "spec",
    [
        ">=" + "1" * 5000,  # parsed by packaging, then "Exceeds the limit (4300 digits)"
        "==1." + "9" * 20,
        "~=1." + "0" * 5000,
        ">=6.4," * 30 + "<7",  # 181 characters
    ],
)
def test_unbounded_version_ranges_are_schema_errors(spec):
    result = load_manifest(MANIFEST.format(spec=f"'{spec}'"))
    assert not result.ok
    assert any("bmad_version" in (e.path or "") for e in result.errors)


@pytest.mark.parametrize("spec", [">=6.4,<7", "==6.12.0", "~=6.12", ">=6.4.0a1", "!=6.5.*"])
def test_ordinary_version_ranges_still_validate(spec):
    assert load_manifest(MANIFEST.format(spec=f"'{spec}'")).ok


VERSIONS = ["6.12.0", "0", "999999999.1", "6.4.0a1", "1!2.0", "6.12.0.post3+local"]
_SPEC_TEXT = st.one_of(
    st.text(alphabet=st.sampled_from(list("0123456789.,<>=!~*+-abrcpostdevlocal ")), max_size=120),
    st.tuples(st.sampled_from([">=", "==", "~=1.", "<"]), st.integers(1, 6000)).map(
        lambda parts: parts[0] + "9" * parts[1]
    ),
)


@settings(max_examples=400, deadline=None)
@given(spec=_SPEC_TEXT)
def test_any_version_range_that_validates_evaluates(spec):
    result = _load(spec)
    if not result.ok or result.manifest is None:
        return
    required = result.manifest.project.bmad_version
    for version in VERSIONS:
        install = BmadInstall(Generation.V6_4, version=version, bmad_dir="_bmad")
        _version_findings(install, required)  # never raises
