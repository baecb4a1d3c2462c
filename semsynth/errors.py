"""Exceptions. A ``UserError`` is a mistake the user can fix: the CLI prints its one-line message and exits 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (names, paths, values); its message says what is wrong and how to fix it."""


class LayoutError(UserError, ValueError):
    """A label or instance map that does not fit its label space (dtype, shape or value range)."""


class MissingWeightsError(UserError, FileNotFoundError):
    """A pretrained file that is not on disk; the message names the file, the places searched and the source."""


class DatasetError(UserError):
    """A dataset root that is missing or malformed."""
