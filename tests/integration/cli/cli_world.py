"""The test world of the CLI tests: a data directory and a way to run the real CLI in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CONFIG = """\
cameras:
  - name: gate
    detect_fps: 5
    lat: 52.52
    lon: 13.40
  - name: plaza
    detect_fps: 5
"""


@dataclass(frozen=True)
class World:
    root: Path
    home: Path
    config: Path
    clip: Path
    photo: Path
    probe: Path

    def run(self, *args: str, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run the real ``citywatch`` CLI in a subprocess against this world's data directory."""
        env = os.environ | {"CITYWATCH_HOME": str(self.home), "CITYWATCH_USER": "tester"}
        res = subprocess.run(
            [sys.executable, "-m", "citywatch", *args, "--config", str(self.config)]
            if args and args[0] not in ("demo", "config") and args[:2] != ("eval", "build-set")
            else [sys.executable, "-m", "citywatch", *args],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        if check and res.returncode != 0:
            raise AssertionError(f"citywatch {' '.join(args)} exited {res.returncode}:\n{res.stderr}")
        return res


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
