"""Lifecycle events: CloudEvents 1.0 to an HTTP sink (``K_SINK``) or a JSON Lines file.

A sink that is down never fails a run or blocks a deploy (DESIGN §4).
"""
