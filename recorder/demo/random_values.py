"""The demo's randomness and stable ids.

Every draw comes from a seeded `random.Random` handed in by the caller, so the same seed gives the
same workload byte for byte; ids of definitions (nodes, outputs, inputs) are uuid5, fixed per name.
"""

from __future__ import annotations

import random
import uuid

_NS = uuid.UUID("6f1d3c1e-6a57-4c55-9d0e-2b1a0c7d5e42")

WORDS = ("the your order refund invoice account plan upgrade we can will shipping policy within days customer "
         "support billing team please update ticket priority details report section summary revenue growth "
         "lead score company contract renewal latency answer résumé café Köln 東京 ✅ 数据 naïve").split()
COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella", "Stark Industries", "Wayne Enterprises", "Müller GmbH")

_SIDS: dict[tuple[str, ...], str] = {}


def stable_id(*parts: str) -> str:
    """A stable id (uuid5): a server keeps node, output and input ids fixed per definition."""
    if parts not in _SIDS:
        _SIDS[parts] = str(uuid.uuid5(_NS, "/".join(parts)))
    return _SIDS[parts]


def fresh_id(rng: random.Random) -> str:
    """``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, formatted directly because it is hot."""
    h = "%032x" % (rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def jitter(rng: random.Random, lo: int, hi: int) -> int:
    """A cheaper ``randint`` for per-event jitter."""
    return lo + int(rng.random() * (hi - lo + 1))


def sentence(rng: random.Random, lo: int, hi: int, end: str = ".") -> list[str]:
    words = rng.choices(WORDS, k=rng.randint(lo, hi))
    words[0] = words[0].capitalize()
    words[-1] += end
    return words
