"""The receipt model: money, tax profiles, identifiers, units, receipts and their validation.

Pure Python, no I/O and no HTTP knowledge, so the driver, the simulator and every HTTP dialect share one
set of rules. See ``docs/CONTRACTS.md`` for the names other packages rely on.
"""
