"""The scenarios' user counts over time: ``(until_s, users, spawn_rate)`` stages, in order.

- ``smoke``: 5 users for 8 s (CI checks the locustfile against a live server).
- ``load``: ramp to 200 sessions over 60 s, hold 120 s.
- ``stress``: +25 sessions every 30 s up to 300 (six minutes); the run reports
  where errors or p99 > 2 s begin, overall and for searches alone.
- ``spike``: 0 -> 300 sessions in 10 s, hold 30 s, back to 10, hold 30 s.
- ``soak``: 100 sessions for 30 minutes (index updates run beside it).
"""

from __future__ import annotations

SHAPES: dict[str, list[tuple[float, int, float]]] = {
    "smoke": [(8, 5, 5)],
    "load": [(60, 200, 200 / 60), (180, 200, 10)],
    "stress": [(30 * (k + 1), 25 * (k + 1), 25) for k in range(12)],
    "spike": [(10, 300, 30), (40, 300, 30), (45, 10, 100), (75, 10, 10)],
    "soak": [(1800, 100, 10)],
}
