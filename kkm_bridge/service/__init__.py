"""Running as a system service.

`kkm_bridge.service.notify`: systemd notifications (READY, STOPPING, STATUS) and the watchdog
task. Import from that module: ``from kkm_bridge.service.notify import notify_ready``.
"""
