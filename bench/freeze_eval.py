"""What a change-freeze decision costs: ``freeze_verdict`` plus the window's next opening, for
windows of rising cost, beside a weekly window as the baseline, in the same process.

The searches are bounded (back only over a window's duration, at most 366 days; forward to a
horizon), so the worst case is a window that opens every minute and lasts a year: every
opening in that year may have to be walked. The bot works these out off the event loop
(``bot/service/freezes.py``), since the worst case is tens of milliseconds.

    .venv/bin/python bench/freeze_eval.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.cron import parse_cron
from bot.core.freeze import FreezeWindow, freeze_verdict, parse_duration

NOW = 1_790_000_000.0  # a Monday in 2026, 04:53 UTC

WINDOWS = [
    ("weekly, 62 h (baseline)", "0 18 * * 5", "62h"),
    ("daily, 8 h", "0 9 * * *", "8h"),
    ("29 February only, 1 d", "0 0 29 2 *", "1d"),
    ("every minute, 366 d (worst)", "* * * * *", "366d"),
]


def one(schedule: str, duration: str) -> float:
    """Seconds for one decision and next opening on a fresh window (no cache carried over)."""
    window = FreezeWindow(
        name="w",
        schedule=parse_cron(schedule),
        duration=parse_duration(duration),
        timezone="Asia/Shanghai",
    )
    began = time.perf_counter()
    freeze_verdict([window], "prod", NOW)
    window.next_opening(NOW)
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs per window (20)")
    args = parser.parse_args(argv)
    rows = []
    for label, schedule, duration in WINDOWS:
        times = [one(schedule, duration) for _ in range(args.repeat)]
        rows.append((label, statistics.median(times), max(times)))
    base = rows[0][1]
    print(f"A freeze decision plus the next opening, median and max of {args.repeat} runs:")
    print(f"{'window':<30} {'median ms':>10} {'max ms':>8} {'x baseline':>11}")
    for label, median, worst in rows:
        print(f"{label:<30} {median * 1000:>10.3f} {worst * 1000:>8.3f} {median / base:>11.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
