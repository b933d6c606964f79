"""Configuration changes that tune a safeguard are audited, even when made by editing the YAML file.

Cameras, retention, the watchlist and authorisation limits, the capture
floor, the match threshold and the search window live in the config file, so
no API call sees them change. Each time an App opens a data directory, the
settings that matter are compared with the last ``config.change`` entry; a
difference (or the first start) appends a new one naming every changed key
with its old and new value.
"""

from __future__ import annotations

import getpass
from typing import Any

from citywatch.config import Config
from citywatch.log import scrub_url
from citywatch.store.repo import Store

ACTION = "config.change"
SYSTEM_ACTOR = "system:config"


def audited_settings(cfg: Config) -> dict[str, Any]:
    """The settings whose changes the audit trail records, as plain JSON (stream credentials scrubbed)."""
    return {
        "governance": cfg.governance.model_dump(mode="json"),
        "match": cfg.match.model_dump(mode="json"),
        "search.max_window_days": cfg.search.max_window_days,
        "cameras": {
            c.name: {**c.model_dump(mode="json"), "source": scrub_url(c.source)} for c in cfg.cameras
        },
    }


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            flat.update(_flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


def record_config_changes(store: Store, cfg: Config) -> dict[str, list[Any]]:
    """Append ``config.change`` when the audited settings differ from the last recorded ones.

    Returns ``{key: [old, new]}`` of what changed (every key on the first
    start, with ``old`` None); empty when nothing changed and nothing was
    written. The OS user who started the process is recorded, not a password
    or a secret: none of these settings holds one.
    """
    now = audited_settings(cfg)
    last = store.last_audit(ACTION)
    before = (last.details or {}).get("settings", {}) if last is not None else {}
    old, new = _flatten(before), _flatten(now)
    changed = {
        k: [old.get(k), new.get(k)] for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)
    }
    if not changed:
        return {}
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        os_user = "unknown"
    store.append_audit(
        SYSTEM_ACTOR, ACTION, "config", details={"os_user": os_user, "changed": changed, "settings": now}
    )
    return changed


__all__ = ["ACTION", "audited_settings", "record_config_changes"]
