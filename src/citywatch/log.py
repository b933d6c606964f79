"""Logging set-up shared by the CLI, workers and tests.

Modules log through ``logging.getLogger(__name__)``; only entry points call
:func:`setup_logging`. URLs with credentials are scrubbed before they reach a log.
"""

from __future__ import annotations

import logging
import re

_CRED_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s:]+(?::[^/@\s]*)?@")


def scrub_url(url: str) -> str:
    """Return ``url`` with any ``user:password@`` part replaced by ``***@``."""
    return _CRED_RE.sub(r"\g<scheme>***@", url)


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub_url(record.msg)
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(scrub_url(a) if isinstance(a, str) else a for a in record.args)
        return True


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once: level, a compact format, credential scrubbing."""
    root = logging.getLogger()
    if not any(isinstance(f, _ScrubFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_ScrubFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())
