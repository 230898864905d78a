"""Software fiscal printers that speak the same bytes as real devices (through `protocols`)."""
