"""Settings that inherit: device/user → account → ancestors → system config, resolved in one place."""

from __future__ import annotations

from typing import Any

from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.store import Doc

# What each inheritable setting is called in documents, and where the system default lives.
SETTINGS: dict[str, tuple[str, tuple[str, str]]] = {
    "timezone": ("timezone", ("accounts", "default_timezone")),
    "language": ("language", ("crossbar", "default_language")),
    "caller_id": ("caller_id", ("callflow", "default_caller_id")),
    "music_on_hold": ("music_on_hold.media_id", ("media", "default_music_on_hold")),
    "audio_codecs": ("media.audio.codecs", ("media", "default_audio_codecs")),
    "video_codecs": ("media.video.codecs", ("media", "default_video_codecs")),
}

FALLBACKS: dict[str, Any] = {
    "timezone": "America/Los_Angeles",
    "language": "en-US",
    "caller_id": {},
    "music_on_hold": None,
    "audio_codecs": ["PCMU", "PCMA"],
    "video_codecs": [],
}


def _get(doc: Doc, dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


async def resolve(
    configs: SystemConfigs, setting: str, endpoints: list[Doc], accounts: list[Doc], default: Any = None
) -> Any:
    """First value found walking endpoints (device, then owner user), then accounts (own first), then system.

    Caller ID merges per type (internal/external/emergency) instead of stopping at the first document.
    """
    path, (category, key) = SETTINGS[setting]
    chain = [d for d in endpoints + accounts if d]
    if setting == "caller_id":
        merged: dict = {}
        for doc in reversed(chain):
            for kind, entry in (_get(doc, path) or {}).items():
                if isinstance(entry, dict):
                    merged[kind] = {**merged.get(kind, {}), **{k: v for k, v in entry.items() if _present(v)}}
        return merged or (await configs.value(category, key, None)) or default or FALLBACKS[setting]
    for doc in chain:
        value = _get(doc, path)
        if _present(value):
            return value
    system = await configs.value(category, key, None)
    if _present(system):
        return system
    return default if default is not None else FALLBACKS[setting]


def inherited_view(resolved: dict[str, Any]) -> dict[str, Any]:
    """The `_read_only.inherited` block shown with `?include_inherited=true`."""
    return {name: value for name, value in resolved.items() if value is not None}
