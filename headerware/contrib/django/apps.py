"""The Django app of :mod:`headerware.contrib.django` (it carries the template tags)."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]


class HeaderwareConfig(AppConfig):  # type: ignore[misc]
    """``INSTALLED_APPS = [..., "headerware.contrib.django"]``; app label ``headerware``."""

    name = "headerware.contrib.django"
    label = "headerware"
    verbose_name = "headerware"
