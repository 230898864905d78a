"""Fiscal-device drivers.

- `api`: the `FiscalDevice` interface the workers and the HTTP API program against.
- `atol`: `AtolDriver`, ATOL printers over transport v3 (`link_v3`), with pipelined receipts.
- `errors`: what goes wrong, as types (link errors vs the device's refusals with their codes).
- `shift_policy`, `timeouts`: behaviour as data.
- `factory.open_device(uri, **options)`: a connected driver from a transport URI (`sim://` included).

Submodules are imported on demand; importing this package costs nothing.
"""
