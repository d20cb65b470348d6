"""The shipped reference tables load, in our metric names and as fractions."""

import pytest

from dsaii_core.bench import references


def test_dsaii_means_are_the_published_numbers():
    table = references.dsaii_means().set_index(["source", "metric"])["value"]
    assert table[("DSAII PatchCore", "image_auroc")] == pytest.approx(0.572)
    assert table[("DSAII PatchCore", "pixel_auroc")] == pytest.approx(0.875)
    assert table[("DSAII SimpleNet", "image_auroc")] == pytest.approx(0.691)
    assert table[("DSAII SimpleNet", "pixel_auroc")] == pytest.approx(0.653)


def test_patchcore_per_class_table_has_mvtec_classes_and_mean():
    table = references.patchcore_mvtec().set_index(["class", "metric"])["value"]
    assert table[("mean", "image_auroc")] == pytest.approx(0.9916, abs=1e-4)
    assert {"hazelnut", "transistor", "carpet"} <= set(table.index.get_level_values("class"))
    assert len(references.patchcore_configs()) == 6


def test_every_reference_source_loads_with_values_in_unit_range():
    sources = references.reference_sources()
    assert sources[0] == f"PatchCore {references.PATCHCORE_DEFAULT}"
    assert "anomalib patchcore (Wide ResNet-50)" in sources
    for source in sources:
        table = references.reference_table(source)
        assert not table.empty and table["value"].between(0, 1).all(), source
        assert set(table["metric"]) <= {"image_auroc", "pixel_auroc", "aupro", "f1_max", "pixel_f1_max"}
