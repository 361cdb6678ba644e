"""Progress output: readable lines on a terminal, JSON lines otherwise, a Markdown summary in CI.

Every event has a ``kind`` (``plan``, ``step``, ``probe``, ``traffic``, ``rollback``, ``done``...),
a human message and structured fields. On a terminal the message is printed with a timestamp;
when the stream is not a terminal each event is one JSON object per line (for log pipelines).
When ``GITHUB_STEP_SUMMARY`` is set the final summary is appended to that file as Markdown.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["Reporter"]


class Reporter:
    """Writes progress events and the final summary."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        json_lines: bool | None = None,
        summary_path: Path | None = None,
    ) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._json = json_lines if json_lines is not None else not _isatty(self._stream)
        env_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        self._summary_path = summary_path or (Path(env_summary) if env_summary else None)
        self.events: list[dict[str, Any]] = []

    def event(self, kind: str, message: str, **fields: Any) -> None:  # noqa: ANN401 - JSON fields
        """Report one event."""
        record = {"ts": round(time.time(), 3), "kind": kind, "message": message, **fields}
        self.events.append(record)
        if self._json:
            self._stream.write(json.dumps(record, default=str) + "\n")
        else:
            stamp = time.strftime("%H:%M:%S")
            self._stream.write(f"{stamp} {_ICONS.get(kind, '·')} {message}\n")
        self._stream.flush()

    def summary(self, markdown: str) -> None:
        """Append ``markdown`` to the CI job summary when there is one."""
        if self._summary_path is None:
            return
        with self._summary_path.open("a", encoding="utf-8") as handle:
            handle.write(markdown.rstrip() + "\n\n")


_ICONS = {
    "plan": "▶",
    "step": "→",
    "traffic": "⇄",
    "probe": "✓",
    "probe-failed": "✗",
    "ready": "●",
    "rollback": "↩",
    "resolve": "⚠",
    "retry": "↻",
    "override": "⚠",
    "done": "■",
    "error": "✗",
}


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
