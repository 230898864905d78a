"""The receipt model: money, tax profiles, identifiers, units, receipts and their validation.

Pure Python, no I/O and no HTTP knowledge, so the driver, the simulator and every HTTP dialect share one
set of rules. See ``docs/CONTRACTS.md`` for the names other packages rely on.

Modules:
- ``money``: integer minor units, the half-up rule, line amounts, included VAT, exact parsing;
- ``currency``: minor digits per currency;
- ``tax``: ``VatRate`` and dated per-country ``TaxProfile`` s (replaceable from configuration);
- ``identifiers``: KZ IIN/BIN, UZ PINFL/TIN, RU INN;
- ``units``: measure-unit codes;
- ``receipt``: ``Receipt``, ``Item``, ``Payment``... with computed totals, VAT and change;
- ``jurisdiction``: per-country codes and rules other than rates;
- ``validation``: ``validate`` -> every ``Problem`` with a stable code and a path;
- ``builder``: plain dict (parsed JSON) -> ``Receipt``, collecting problems;
- ``errors``: ``Problem`` and the exception hierarchy.
"""

from .builder import BuildOptions, BuildResult, build_receipt, load_receipt, receipt_problems
from .errors import ConfigError, InputError, ModelError, Problem, ValidationError
from .jurisdiction import JURISDICTIONS, Jurisdiction, get_jurisdiction
from .money import line_amount, parse_amount, parse_quantity, round_half_up, vat_included
from .receipt import (
    Cashier,
    Client,
    Item,
    ItemKind,
    Operation,
    OriginalReceiptRef,
    Payment,
    PaymentType,
    Receipt,
    VatSum,
)
from .tax import DEFAULT_PROFILES, NO_VAT, TaxProfile, VatRate, get_profile, profile_from_config
from .units import DEFAULT_UNITS, UnitTable
from .validation import ValidationOptions, validate

__all__ = [
    "BuildOptions", "BuildResult", "build_receipt", "load_receipt", "receipt_problems",
    "ConfigError", "InputError", "ModelError", "Problem", "ValidationError",
    "JURISDICTIONS", "Jurisdiction", "get_jurisdiction",
    "line_amount", "parse_amount", "parse_quantity", "round_half_up", "vat_included",
    "Cashier", "Client", "Item", "ItemKind", "Operation", "OriginalReceiptRef", "Payment", "PaymentType",
    "Receipt", "VatSum",
    "DEFAULT_PROFILES", "NO_VAT", "TaxProfile", "VatRate", "get_profile", "profile_from_config",
    "DEFAULT_UNITS", "UnitTable",
    "ValidationOptions", "validate",
]
