"""kkm-bridge: driver and local HTTP bridge for ATOL-protocol fiscal printers."""

__version__ = "0.1.0"
