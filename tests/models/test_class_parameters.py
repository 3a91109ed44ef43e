"""Every sheet gives each deposit class its own thickness, grade and recovery (issue 12)."""

from __future__ import annotations

import pytest

from footprint.params import load_sheet

TERRAIN_CLASSES = ("active_channel", "floodplain", "low_terrace", "high_terrace")
SHEETS = {"gh-birim": TERRAIN_CLASSES, "ci-seguela": TERRAIN_CLASSES,
          "ci-tortiya": TERRAIN_CLASSES, "tg-plateaux": TERRAIN_CLASSES,
          # one mapped class: the generic parameters are that class's own
          "zw-marange": ()}


@pytest.mark.parametrize("field_id, classes", SHEETS.items())
def test_each_class_has_its_own_sourced_or_labelled_gravel_parameters(field_id, classes):
    sheet = load_sheet(field_id)
    for cls in classes:
        for name in ("thickness_m", "grade_ct_m3", "recovery"):
            key = f"{name}.{cls}"
            assert sheet.resolve(name, cls) == key, f"{field_id} lacks {key}"
            spec = sheet.parameters[key]
            assert (getattr(spec, "source", None) or getattr(spec, "assumption", None))


def test_birim_channel_has_no_back_calculated_gravel_fraction():
    """The channel belt is drawn at the placer width: it is gravel by construction."""
    sheet = load_sheet("gh-birim")
    assert sheet.resolve("gravel_fraction", "active_channel") is None
    assert "gravel_fraction" not in sheet.parameters
    for cls in ("floodplain", "low_terrace"):
        assert "not back-calculated" in sheet.parameters["gravel_fraction.floodplain"].assumption
        assert sheet.resolve("gravel_fraction", cls) == f"gravel_fraction.{cls}"
