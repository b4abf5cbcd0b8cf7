"""Setuptools shim: all metadata lives in pyproject.toml.

Plain setuptools on purpose: importing octoprint_setuptools here breaks builds under
build isolation (pip install from a clean checkout), because OctoPrint is not in the
isolated build environment.
"""
from setuptools import setup

setup()
