"""Walkthrough pages under docs/ run as written: their `sh` blocks in order, in one shell state, with only the
first block's addresses and secrets replaced by the test's."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNED = re.compile(r"^\s*([A-Z][A-Z_]*)=", re.M)


def page_blocks(doc: Path, steps: Sequence[str], first: Mapping[str, str]) -> list[str]:
    """The page's `sh` blocks, checked to be the steps the test knows (a piece of each, in order), with each of
    `first`'s texts replaced in the first block (each must be there)."""
    blocks = re.findall(r"^```sh\n(.*?)^```", doc.read_text(), re.S | re.M)
    assert len(blocks) == len(steps), "the page's steps"
    assert all(step in block for step, block in zip(steps, blocks, strict=True)), "the page's steps, in order"
    for text, replacement in first.items():
        assert text in blocks[0], text
        blocks[0] = blocks[0].replace(text, replacement)
    return blocks


class Shell:
    """The page's shell: each block runs in a new bash from the state (variables, `api`) the blocks before left."""

    def __init__(self, blocks: list[str], env: dict[str, str] | None = None):
        self.names = sorted({name for block in blocks for name in ASSIGNED.findall(block)})
        self.state = ""
        self.env = env

    def start(self, block: str) -> subprocess.Popen:
        keep = f"\necho ==STATE==\ndeclare -p {' '.join(self.names)} 2>/dev/null || true\ndeclare -f api || true"
        script = "set -euo pipefail\n" + self.state + "\n" + block + keep
        return subprocess.Popen(
            ["bash", "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env
        )

    def finish(self, proc: subprocess.Popen, timeout: float = 60.0) -> str:
        """The block's output once it ended well; its variables and `api` carry over to the next block."""
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, f"{out}\n{err}"
        printed, state = out.split("==STATE==\n", 1)
        self.state = state
        return printed

    def run(self, block: str) -> str:
        return self.finish(self.start(block))

    def value(self, name: str) -> str:
        found = re.search(rf'^declare -- {name}="(.*)"$', self.state, re.M)
        assert found, (name, self.state)
        return found.group(1)
