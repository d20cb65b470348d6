"""Score import: round trip of a stored run, other map formats and layouts, and hostile input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile

from dsaii_core.bench import scores_io
from dsaii_core.bench.dataset import benchmark_root, read_mvtec
from dsaii_core.bench.runs import import_run, metrics_frame
from dsaii_core.errors import DsaiiError


def stored_metrics(ws, run_id):
    frame = metrics_frame(ws, [run_id])
    return {(r["class"], r["metric"]): r["value"] for _, r in frame.iterrows()}


def test_a_stored_run_reimports_to_the_same_metrics(run_ws, tmp_path):
    run, = run_ws.catalog.runs()
    maps_dir = tmp_path / "maps"
    shutil.copytree(run_ws.path(run.maps_dir), maps_dir)
    report = import_run(run_ws.root, maps_dir, "reimported", seed=0)
    assert report.detector == "imported" and report.settings["scores"] == "scores.csv"
    assert stored_metrics(run_ws, report.run_id) == stored_metrics(run_ws, run.id)


def synthetic_maps(ws, folder, write):
    """Maps that light up the ground truth, written with `write(path_without_suffix, array)`; returns them."""
    rng = np.random.default_rng(0)
    out = {}
    with benchmark_root(ws.root, seed=0) as (root, _):
        for split in read_mvtec(root):
            for sample in split.test:
                mask = sample.read_mask((64, 64))
                array = (rng.random((64, 64)) + (mask > 0)).astype(np.float32)
                write(folder / split.name, sample.key, array)
                out[(split.name, sample.key)] = array
    return out


def test_tiff_maps_flat_names_and_map_max_scores(bench_ws, tmp_path):
    def write(class_dir, key, array):
        class_dir.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(class_dir / f"{key.replace('/', '_')}.tiff", array)
    maps = synthetic_maps(bench_ws, tmp_path / "maps", write)
    report = import_run(bench_ws.root, tmp_path / "maps", "tiff")
    assert report.settings["scores"] == "map max"
    for result in report.classes:
        assert result.metrics["pixel_auroc"] > 0.9
        for key, score in result.scores.items():
            assert score == float(maps[(result.name, key)].max())


def test_png_maps_in_nested_folders(bench_ws, tmp_path):
    from dsaii_core import imageio

    def write(class_dir, key, array):
        imageio.write_png(class_dir / f"{key}.png", (array / 2 * 255).astype(np.uint8))
    synthetic_maps(bench_ws, tmp_path / "maps", write)
    report = import_run(bench_ws.root, tmp_path / "maps", "png")
    assert all(r.metrics["pixel_auroc"] > 0.9 for r in report.classes)


def test_16_bit_png_maps_keep_their_ranking(bench_ws, tmp_path):
    """Scores 1/65535 apart stay apart: read as 8 bits they would tie and the pixel AUROC would change."""
    from PIL import Image

    def write(class_dir, key, array):
        (class_dir / key).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rint(array / 2 * 65535).astype(np.uint16)).save(class_dir / f"{key}.png")
    maps = synthetic_maps(bench_ws, tmp_path / "maps", write)
    report = import_run(bench_ws.root, tmp_path / "maps", "png16")
    for result in report.classes:
        for key, score in result.scores.items():
            assert score == np.rint(maps[(result.name, key)].max() / 2 * 65535)


@pytest.fixture
def npy_maps(bench_ws, tmp_path):
    def write(class_dir, key, array):
        (class_dir / key).parent.mkdir(parents=True, exist_ok=True)
        np.save(class_dir / f"{key}.npy", array)
    synthetic_maps(bench_ws, tmp_path / "maps", write)
    return tmp_path / "maps"


def test_scores_csv_is_used_and_checked(bench_ws, npy_maps):
    with benchmark_root(bench_ws.root, seed=0) as (root, _):
        rows = [(s.name, t.key, float(t.label)) for s in read_mvtec(root) for t in s.test]
    scores_io.write_scores(npy_maps, rows)
    report = import_run(bench_ws.root, npy_maps, "perfect scores")
    assert all(r.metrics["image_auroc"] == 1.0 and r.metrics["f1_max"] == 1.0 for r in report.classes)
    (npy_maps / "scores.csv").write_text("class,image,score\nhazelnut,good/000,abc\n")
    with pytest.raises(DsaiiError, match="line 2: score 'abc' is not a number"):
        import_run(bench_ws.root, npy_maps, "bad")
    (npy_maps / "scores.csv").write_text("class,image,score\nhazelnut,good/000,0.5\n")
    with pytest.raises(DsaiiError, match="no score for"):
        import_run(bench_ws.root, npy_maps, "missing rows")
    (npy_maps / "scores.csv").write_text("name,value\n")
    with pytest.raises(DsaiiError, match="header class,image,score"):
        import_run(bench_ws.root, npy_maps, "bad header")


def test_hostile_maps_raise_clear_errors_and_store_nothing(bench_ws, npy_maps):
    victim = next((npy_maps / "hazelnut").rglob("*.npy"))
    original = np.load(victim)
    cases = [(np.full_like(original, np.nan), "NaN or infinite"),
             (np.stack([original] * 3), "2-D array"),
             (original[:, :20], "must cover the whole image"),
             (np.array(["a", "b"]), "2-D array")]
    for bad, message in cases:
        np.save(victim, bad)
        with pytest.raises(DsaiiError, match=message):
            import_run(bench_ws.root, npy_maps, "hostile")
    victim.write_bytes(b"garbage")
    with pytest.raises(DsaiiError, match="cannot read the map"):
        import_run(bench_ws.root, npy_maps, "hostile")
    victim.unlink()
    with pytest.raises(DsaiiError, match="no map for 1 of"):
        import_run(bench_ws.root, npy_maps, "hostile")
    np.save(victim, original)
    shutil.rmtree(npy_maps / "transistor")
    with pytest.raises(DsaiiError, match="no folder 'transistor'"):
        import_run(bench_ws.root, npy_maps, "hostile")
    with pytest.raises(DsaiiError, match="no such folder"):
        import_run(bench_ws.root, npy_maps / "nope", "hostile")
    assert bench_ws.catalog.runs() == []
    assert not any((bench_ws.root / "runs").iterdir())
