"""The README's settings table lists exactly the declared settings."""

from __future__ import annotations

import re
from pathlib import Path

from erp_control_plane.settings import SETTINGS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_lists_every_setting_once():
    listed = re.findall(r"^\| `(ERP_CONTROL_PLANE_[A-Z_]+)` \|", README.read_text(), re.M)
    assert sorted(listed) == sorted(SETTINGS)
