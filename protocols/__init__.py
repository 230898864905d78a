"""Sans-I/O codecs: bytes in, typed messages out. No sockets, no clocks, no imports from the daemon."""
