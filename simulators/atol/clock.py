"""The simulator's idea of "now": an injectable clock.

Why injectable: the shift expires 24 hours after it opens, and tests must reach that point without
waiting a day. The device reads the time only through a `Clock`, so a test can hand it a `ManualClock`
and move time forward explicitly. Wire pacing (baud rate, print speed) deliberately does NOT use this
clock: it is about real elapsed time on the wire and uses `time.monotonic`.

Times are naive local date-times, as a fiscal printer keeps them (the device has no time zone; the
receipt prints local time and the QR `t=` parameter is local time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the device the current local date-time."""

    def now(self) -> datetime: ...


class SystemClock:
    """Real local time, shifted by an offset that the device's set-date commands adjust.

    A real printer has its own RTC: setting its date does not change the host's clock. The offset
    models exactly that.
    """

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return (datetime.now() + self.offset).replace(microsecond=0)

    def set(self, when: datetime) -> None:
        self.offset = when - datetime.now()


@dataclass
class ManualClock:
    """A clock that only moves when told to: for deterministic tests."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 15, 9, 0, 0))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by `delta` or by keyword parts (`advance(hours=25)`)."""
        self.current += delta if delta is not None else timedelta(**kwargs)
        return self.current

    def set(self, when: datetime) -> None:
        self.current = when.replace(microsecond=0)
