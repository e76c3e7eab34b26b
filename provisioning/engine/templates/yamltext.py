"""YAML scalars for generated front matter (SKILL.md, `.claude/agents/<id>.md`).

A JSON string is almost a YAML double-quoted scalar: YAML reads it back as the same text,
except for the characters it refuses as they are (DEL, C1 controls, non-characters) or
reads as line breaks (NEL, LS, PS) or a byte-order mark, which JSON leaves unescaped.
`yaml_quoted` escapes those too, so no manifest value can break the front matter.
"""

from __future__ import annotations

import json
import re

_NOT_YAML = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def yaml_quoted(value: str) -> str:
    """`value` as a YAML double-quoted scalar: a JSON string, with the characters YAML
    refuses or reads differently (`_NOT_YAML`) escaped too."""
    text = json.dumps(value, ensure_ascii=False)
    return _NOT_YAML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
