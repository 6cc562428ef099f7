"""Reading the small JSON assets the retrieval stage ships (groove index, feel table).

One reader so every asset refuses a missing, unreadable or foreign file the same way: a
ConfigError naming the file and the command that builds it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from tunesmith.errors import ConfigError


def read_asset(path: str, what: str, fmt: str, version: int, command: str) -> dict[str, Any]:
    """The JSON document of the asset at `path` (gzipped when it ends in .gz), checked to be
    a `fmt` file of `version`; `what` names it in errors ("groove file"), `command` builds it."""
    zipped = path.endswith(".gz")
    try:
        raw = Path(path).read_bytes()
        doc = json.loads(gzip.decompress(raw) if zipped else raw)
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {path} does not exist: build it with `{command}`") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{what} {path} is not {'gzipped ' * zipped}JSON: {exc}") from exc
    if not isinstance(doc, dict) or (doc.get("format"), doc.get("version")) != (fmt, version):
        raise ConfigError(f"{what} {path} is not a {fmt} file of version {version}")
    return doc
