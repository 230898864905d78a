"""Factory defaults of the simulated printer: registration data, passwords, model, behaviour options.

Every value here is configurable (pass a modified `DeviceConfig` to the simulator, or use the CLI
flags); the defaults are chosen from the team reference so that a driver written against the reference
works against the simulator without configuration.

Passwords (reference `atol-protocol.md` §1.5 and §3.2):

- access password (the 2-byte BCD in front of every command): ``0000``;
- mode passwords (4-byte BCD in ``56 <mode> <password>``):
  cashier passwords ``1``..``28`` (cashier N uses password N; only the cashiers listed in
  ``cashiers`` exist — by default cashier 1 with password 1), administrator ``29``, system
  administrator ``30``.
- Which roles may enter which mode: registration (1) and X reports (2): cashier, administrator,
  system administrator; Z reports (3): administrator, system administrator; programming (4),
  fiscal memory (5), EKLZ (6): system administrator only.

Registration data: the example values of the KZ reference (`fiscal-rules-kz-uz-ru.md` §1.2, the
Webkassa integrator examples): BIN ``150740001357`` (passes the BIN check digit), registration number
(РНМ) ``032600010282``, factory number (ЗНМ) ``SWK00033717``, OFD Kazakhtelecom with its consumer site
``consumer.oofd.kz``. They are sample values, not a real taxpayer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Role(str, Enum):
    """Who entered a mode: decides which modes are allowed."""

    CASHIER = "cashier"
    ADMINISTRATOR = "administrator"
    SYSTEM_ADMINISTRATOR = "system_administrator"


@dataclass
class Passwords:
    """Access and mode passwords (integers, as they are BCD-encoded on the wire)."""

    access: int = 0
    cashiers: dict[int, int] = field(default_factory=lambda: {1: 1})  # cashier number -> password
    administrator: int = 29
    system_administrator: int = 30

    def role_for(self, password: int) -> tuple[Role, int] | None:
        """The role and the operator number a mode password identifies, or None if it is wrong."""
        if password == self.system_administrator:
            return Role.SYSTEM_ADMINISTRATOR, 30
        if password == self.administrator:
            return Role.ADMINISTRATOR, 29
        for number, secret in self.cashiers.items():
            if password == secret:
                return Role.CASHIER, number
        return None


#: Modes each role may enter (mode numbers as in `56 <mode>`).
MODES_BY_ROLE: dict[Role, frozenset[int]] = {
    Role.CASHIER: frozenset({1, 2}),
    Role.ADMINISTRATOR: frozenset({1, 2, 3}),
    Role.SYSTEM_ADMINISTRATOR: frozenset({1, 2, 3, 4, 5, 6}),
}


@dataclass
class Registration:
    """What the tax authority knows the device by; printed on every fiscal document."""

    factory_number: str = "SWK00033717"  # ЗНМ
    registration_number: str = "032600010282"  # РНМ, 12 digits
    fn_number: str = "9999078900001234"  # fiscal storage number (A4 31)
    seller_name: str = 'ТОО "Тестовый продавец"'
    seller_bin: str = "150740001357"
    address: str = "г. Алматы, ул. Абая, 1"
    ofd_name: str = 'АО "Казахтелеком"'
    ofd_site: str = "consumer.oofd.kz"
    #: Base of the verification URL in the QR code (the part before `?`).
    qr_url_base: str = "http://consumer.oofd.kz"
    #: OFD identification number of the KKM (ИНК ОФД).
    ofd_kkm_id: str = "2368"

    def serial_digits(self, width: int = 8) -> int:
        """The factory number as the integer that 3F carries (4 BCD bytes = the last 8 digits)."""
        digits = "".join(ch for ch in self.factory_number if ch.isdigit()) or "0"
        return int(digits[-width:])


@dataclass
class DeviceConfig:
    """Everything that makes one simulated device different from another."""

    registration: Registration = field(default_factory=Registration)
    passwords: Passwords = field(default_factory=Passwords)
    #: Printer line width in characters: 32 (58 mm) or 48 (80 mm).
    line_width: int = 48
    #: Model id reported by 3F / A5 (91F = 0x52 in libfptr's enum).
    model_id: int = 0x52
    model_name: str = "ATOL SIM 91F"
    firmware: tuple[int, int] = (5, 8)
    #: A real ATOL opens the shift by itself on the first receipt or cash operation.
    auto_open_shift: bool = True
    #: Shift length limit in hours (a fraction makes a shift expire quickly in an end-to-end test).
    shift_hours: float = 24
    #: Error code reported when the cover is open (the reference has no dedicated code).
    cover_open_error: int | None = None  # None: use protocols' COVER_OPEN_ERROR
    #: Task buffer capacity (v3 transport); one more ADD answers B1.
    task_buffer_size: int = 32
    #: A failed task without IGNORE_ERR makes later ADDs end STOPPED until it is ACKed/ABORTed.
    stop_after_error: bool = True
    #: Mark new fiscal documents as made offline (autonomous fiscal sign, offline mark on the tape).
    offline: bool = False
    #: Seed of the fiscal-sign key generated for a new state file (None: random key).
    sign_key_seed: int | None = None
    #: Printed documents kept in `Device.tape` (0: unbounded). The tape is for looking at the last few
    #: documents; every one is also passed to `Device.on_print` (the CLI's --tape-dir writes them out).
    tape_keep: int = 200
