"""What the HTTP handlers work with: the cashboxes, the journal, the device workers and auth, built elsewhere.

``app.create_app(services)`` takes this already built, so a test builds it around an embedded simulator and
the daemon (``kkm_bridge.daemon``) around the configured devices; the handlers never construct services.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kkm_bridge.config import Config, DeviceSettings
from kkm_bridge.driver.api import ChecksReceipts
from kkm_bridge.journal import AsyncJournal
from kkm_bridge.model.errors import Problem
from kkm_bridge.model.receipt import Receipt
from kkm_bridge.model.tax import TaxProfile, get_profile
from kkm_bridge.workers.manager import DeviceManager

from .auth import Authenticator
from .errors import ApiError
from .security import RateLimiter

__all__ = ["Cashbox", "Services", "local_now"]


def local_now() -> datetime:
    """Device-local wall time, naive: what picks the VAT rates in force (devices have no time zone)."""
    return datetime.now()


@dataclass(frozen=True)
class Cashbox:
    """One configured device as the API knows it: its ``fiscal_id`` and the rules its receipts follow."""

    settings: DeviceSettings
    profile: TaxProfile

    @property
    def fiscal_id(self) -> str:
        return self.settings.fiscal_id

    @property
    def device_id(self) -> str:
        return self.settings.id

    @classmethod
    def from_settings(cls, settings: DeviceSettings, profiles: Mapping[str, TaxProfile] | None = None) -> Cashbox:
        return cls(settings, get_profile(settings.country, profiles))


@dataclass
class Services:
    config: Config
    journal: AsyncJournal
    manager: DeviceManager
    auth: Authenticator
    cashboxes: Mapping[str, Cashbox]  # by fiscal_id, in configuration order
    limiter: RateLimiter | None = None
    now: Callable[[], datetime] = local_now
    #: Set when SIGTERM arrives: new jobs are refused (503) while the job in flight finishes.
    stopping: bool = field(default=False)
    #: ``device_check`` per device id, with the device it was made for (a runtime Protocol isinstance per
    #: request is not free).
    _checks: dict[str, tuple[object, Callable[[Receipt], list[Problem]] | None]] = field(
        default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, config: Config, journal: AsyncJournal, manager: DeviceManager, auth: Authenticator) -> Services:
        boxes = {d.fiscal_id: Cashbox.from_settings(d, config.tax_profiles) for d in config.devices}
        limits = config.limits
        return cls(config, journal, manager, auth, boxes, RateLimiter(limits.rate_per_second, limits.burst))

    @property
    def default_cashbox(self) -> Cashbox:
        return next(iter(self.cashboxes.values()))

    def cashbox(self, fiscal_id: str | None) -> Cashbox:
        """The cashbox a request names; without ``fiscal_id`` the first configured one."""
        if fiscal_id is None:
            return self.default_cashbox
        try:
            return self.cashboxes[fiscal_id]
        except KeyError:
            raise ApiError(404, "not_found", f"no cashbox with fiscal_id {fiscal_id!r}") from None

    def device_check(self, box: Cashbox) -> Callable[[Receipt], list[Problem]] | None:
        """The device's own pre-check of a receipt (``ChecksReceipts.receipt_problems``: pure, no I/O), so
        a receipt it cannot print is refused before it is journalled; None if its driver has none."""
        if box.device_id not in self.manager:
            return None
        device = self.manager.worker(box.device_id).device
        cached = self._checks.get(box.device_id)
        if cached is not None and cached[0] is device:
            return cached[1]
        check = device.receipt_problems if isinstance(device, ChecksReceipts) else None
        self._checks[box.device_id] = (device, check)
        return check

    def by_device(self, device_id: str) -> Cashbox | None:
        for box in self.cashboxes.values():
            if box.device_id == device_id:
                return box
        return None
