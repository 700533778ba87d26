"""Settings of one running platform: where data lives, where to listen, API limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cloudpbx.store import default_url


def parse_hostport(value: str, default_port: int) -> tuple[str, int]:
    """`HOST:PORT`, `HOST` or `:PORT` → (host, port); a bad port is a ValueError with a clear message."""
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid port in {value!r}")
    return host or "127.0.0.1", int(port)


@dataclass
class Settings:
    data_dir: Path = Path("var")
    db_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    realm_suffix: str = "sip.cloudpbx.local"
    token_expiry_s: int = 3600
    page_size: int = 50
    max_body_bytes: int = 8_000_000
    bucket_capacity: int = 100
    bucket_fill_per_s: float = 10.0
    node: str = field(default_factory=lambda: f"cloudpbx@{os.uname().nodename}")

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not self.db_url:
            self.db_url = default_url(self.data_dir.resolve())

    @classmethod
    def from_env(cls, data_dir: str | None = None, db_url: str | None = None, http: str | None = None) -> "Settings":
        """Flags win over CLOUDPBX_* variables, which win over defaults."""
        env = os.environ
        data = data_dir or env.get("CLOUDPBX_DATA_DIR") or "var"
        host, port = parse_hostport(http or env.get("CLOUDPBX_HTTP") or "127.0.0.1:8000", 8000)
        extra = {}
        if "CLOUDPBX_RATE_LIMIT" in env:  # "capacity/fill_per_second"
            cap, _, fill = env["CLOUDPBX_RATE_LIMIT"].partition("/")
            extra = {"bucket_capacity": int(cap), "bucket_fill_per_s": float(fill or cap)}
        if "CLOUDPBX_REALM_SUFFIX" in env:
            extra["realm_suffix"] = env["CLOUDPBX_REALM_SUFFIX"]
        return cls(data_dir=Path(data), db_url=db_url or env.get("CLOUDPBX_DB_URL", ""), http_host=host, http_port=port, **extra)
