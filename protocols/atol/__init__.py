"""ATOL fiscal-printer protocol: v3 and v2 framing, task buffer, application commands.

Everything here is sans-I/O: functions and small state machines over bytes. Importing this package
registers the "atol" text codec (see `codepage`).
"""

from . import codepage as _codepage  # noqa: F401  (registers the "atol" codec)
