"""Headrace's version, reported by healthz."""

from importlib import metadata

try:
    VERSION = metadata.version("headrace")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    VERSION = "0+unknown"
COMMIT_SHA = "unknown"
