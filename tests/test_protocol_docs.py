"""docs/protocol.md documents every op the server registers."""

from __future__ import annotations

import re

from tests.stack import ROOT, ops_in_source


def documented_ops() -> set[str]:
    """Op names in a heading of protocol.md or in the first cell of one of its
    tables (presence and typing are documented as table rows)."""
    found: set[str] = set()
    for line in (ROOT / "docs" / "protocol.md").read_text().splitlines():
        if line.startswith("#"):
            found |= set(re.findall(r"`([a-z]+(?:\.[a-z]+)?)`", line))
        elif m := re.match(r"\| `([a-z]+(?:\.[a-z]+)?)` \|", line):
            found.add(m.group(1))
    return found


def test_every_op_is_documented() -> None:
    missing = sorted(set(ops_in_source()) - documented_ops())
    assert missing == []
