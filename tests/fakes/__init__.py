"""Fakes at the lowest hardware layer (bus object, ioctl, HTTP server, printer adapter).

They stand in for hardware this machine does not have; nothing of PiFocus's own code is
replaced.
"""
