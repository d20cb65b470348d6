"""A new user's first hour, in one browser session on a fresh workspace: every phase, page by page.

Create a workspace from the sidebar, import a zip, crawl the fake search site, curate, make and fix
object masks, generate and draw anomaly masks, inpaint (weight-free), review (regenerate, then undo),
export both layouts, run the baseline benchmark and read its dashboard, then import a Magnetic-tile-style
folder whose masks lie beside the photos. Each step checks the catalog and the files, and
leaves a screenshot `walkthrough-NN-<page>.png` in test-artifacts/.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dsaii_core.collect import curate
from dsaii_core.demo import DEMO_DIR
from dsaii_core.inpaint import review
from dsaii_core.jobs import get_job, list_jobs
from dsaii_core.masks import objects
from dsaii_core.masks.anomaly import anomaly_masks
from dsaii_core.workspace import Workspace
from tests.fixtures.fake_web import FakeWeb
from tests.fixtures.import_trees import magnetic_tile_copy

HAZELNUT = DEMO_DIR / "hazelnut"
ZIPPED = ["train/good/000.png", "train/good/001.png", "train/good/002.png", "train/good/003.png",
          "test/good/000.png", "test/crack/000.png", "ground_truth/crack/000_mask.png",
          "test/hole/000.png", "ground_truth/hole/000_mask.png"]


def demo_zip(path: Path) -> Path:
    """A zip holding a small MVTec AD category: 5 normals and 2 real defects with their masks."""
    with zipfile.ZipFile(path, "w") as archive:
        for name in ZIPPED:
            archive.write(HAZELNUT / name, f"hazelnut/{name}")
    return path


def upload(ui, index: int, path: Path) -> None:
    """Give the `index`-th file uploader of the page a file, again if a rerun replaced the input meanwhile."""
    for attempt in range(3):
        ui.wait_idle()
        ui.wait_for("input[type='file']")
        ui.driver.find_elements(By.CSS_SELECTOR, "input[type='file']")[index].send_keys(str(path))
        try:
            return ui.wait_text(path.name, timeout=15)
        except TimeoutException:
            if attempt == 2:
                raise


def show_last_message(ui) -> None:
    """Scroll the page's last message box (or job panel) into view (for the screenshot)."""
    boxes = ui.driver.find_elements(By.CSS_SELECTOR, "[data-testid='stMain'] [data-testid='stAlert'], "
                                                     "[data-testid='stMain'] [data-testid='stProgress']")
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'end'});", boxes[-1])


def test_a_new_user_goes_from_images_to_a_benchmark(app_server, ui, tmp_path):
    web = FakeWeb().start()
    try:
        walk(app_server, ui, tmp_path, web)
    except Exception:
        ui.screenshot("walkthrough-failed")  # where it stopped, for the person reading the failure
        print(ui.text())
        raise
    finally:
        web.stop()


def walk(app_server, ui, tmp_path: Path, web: FakeWeb) -> None:
    # 1. A fresh app; the user types a new workspace folder into the sidebar.
    ui.open(app_server(tmp_path / "first"))
    ui.wait_text("Collect")
    root = tmp_path / "my-dataset"
    ui.fill("[data-testid='stSidebar'] [data-testid='stTextInput'] input", str(root))
    ui.wait_text("No classes yet")
    assert (root / "dsaii.sqlite").is_file()
    ws = Workspace.open(root)
    assert ws.catalog.classes() == []
    ui.screenshot("walkthrough-01-new-workspace")

    # 2. Collect: upload a zip of an MVTec AD category.
    upload(ui, 0, demo_zip(tmp_path / "hazelnut.zip"))
    ui.click_button("Import")
    ui.wait_text("7 images added (2 real anomalies) to 1 classes")
    cls = ws.get_class("hazelnut")
    assert len(ws.catalog.items(cls.id, "normal", ("kept",))) == 5
    real = ws.catalog.items(cls.id, "anomaly", ("accepted",))
    assert sorted(a.defect for a in real) == ["crack", "hole"] and all(a.mask_id for a in real)
    assert len(ws.catalog.bank_masks()) == 2
    show_last_message(ui)
    ui.screenshot("walkthrough-02-collect-import")

    # 3. Collect: crawl the fake search API for more hazelnut pictures, ranked against a reference.
    web.use_results(["/img/coffee.png", "/img/chelsea.png", "/img/rocket.png", "/html-as.png"])
    ui.fill(".st-key-crawl_class input", "hazelnut")
    upload(ui, -1, HAZELNUT / "train/good/004.png")
    ui.driver.find_element(By.XPATH, "//summary[.//*[text()='Network']] | //details//*[text()='Network']").click()
    ui.click(".st-key-crawl_allow_private label")
    ui.fill(".st-key-crawl_base_url input", web.url(""))
    ui.click(".st-key-crawl_start button")
    ui.wait_text("3 added as candidates", timeout=120)
    candidates = ws.catalog.items(cls.id, "normal", ("candidate",))
    assert len(candidates) == 3
    assert all(ws.catalog.provenance(c.id).license for c in candidates)
    show_last_message(ui)
    ui.screenshot("walkthrough-03-collect-crawl")

    # 4. Curate: keep one candidate, drop the rest of the page.
    ui.go("curate", "Curate")
    ui.wait_text("3 images")
    first = curate.candidate_page(ws, cls, per_page=40).items[0].id
    ui.click(f".st-key-keep_{first} button")
    ui.wait_text("2 images")
    ui.screenshot("walkthrough-04-curate")
    ui.click(".st-key-curate_drop_page button")
    ui.wait_text("Nothing left to decide: 2 dropped, 6 kept")
    statuses = sorted(ws.catalog.item(c.id).status for c in candidates)
    assert statuses == ["dropped", "dropped", "kept"] and ws.catalog.item(first).status == "kept"
    normals = ws.catalog.items(cls.id, "normal", ("kept",))
    assert len(normals) == 6

    # 5. Object masks: generate without weights, then paint a fix onto one.
    ui.go("object_masks", "Object masks")
    ui.click(".st-key-om_generate button")
    ui.wait_until(lambda: all(r.mask is not None for r in objects.review_rows(ws, cls)), 120)
    ui.wait_idle()
    ui.wait_text("6 of 6 images have an object mask")
    nut = normals[0]
    before = ws.object_mask(nut)
    assert "sam" not in before.source  # no weights here: GrabCut / saliency candidates
    ui.click(f".st-key-om_open_{nut.id} button")
    editor = ui.editor()
    editor.show()  # the mask editor; a brush stroke along the top-left background, saved with Enter
    editor.drag([editor.client(20, 20), editor.client(80, 20)])
    editor.wait(lambda s: s["dirty"] == "true")
    editor.keys("\ue007")
    ui.wait_until(lambda: ws.object_mask(nut).id != before.id)
    painted = ws.object_mask(nut)
    assert painted.source == "editor" and painted.area > before.area
    assert ws.read_mask(painted)[10:30, 20:70].any() and not ws.read_mask(before)[10:30, 20:70].any()
    assert painted.params.get("accepted")  # a fix by hand counts as checked
    other = normals[1]
    assert not ws.object_mask(other).params.get("accepted")
    ui.wait_idle()
    ui.click(f".st-key-om_accept_{other.id} button")  # a generated mask that looks right: accept it as it is
    ui.wait_until(lambda: ws.object_mask(other).params.get("accepted"))
    assert ws.object_mask(other).params["accepted_from"] == ws.object_mask(other).replaces
    ui.wait_text("2 checked")
    ui.screenshot("walkthrough-05-object-masks")

    # 6. Anomaly masks: generate from the mask bank (the imported ground truth), then draw one more.
    ui.go("anomaly_masks", "Anomaly masks")
    ui.click_button("Generate")
    ui.wait_until(lambda: len(anomaly_masks(ws, cls)) == 6, 120)
    ui.wait_text("6 anomaly masks on 6 images")
    for item, mask in anomaly_masks(ws, cls):
        pixels, on_object = ws.read_mask(mask), ws.read_mask(ws.object_mask(item))
        assert set(pixels.flat) <= {0, 255} and pixels.any()
        assert not (pixels & ~on_object).any(), "a generated defect lies off the object"
        assert math.isclose(mask.area, (pixels > 0).mean(), abs_tol=1e-6)
    ui.screenshot("walkthrough-06-anomaly-masks-generated")
    ui.choose("am_view", "Draw")
    editor = ui.editor()
    editor.show()  # a stroke across the middle of the first image, saved with the editor's Save button
    editor.drag([editor.client(90, 128), editor.client(170, 128)])
    editor.wait(lambda s: s["dirty"] == "true")
    editor.press("save")
    ui.wait_until(lambda: any(m.source == "drawn" for _, m in anomaly_masks(ws, cls)))
    (drawn_on, drawn), = [(i, m) for i, m in anomaly_masks(ws, cls) if m.source == "drawn"]
    assert drawn_on.id == normals[0].id and 0.01 < drawn.area < 0.1
    assert ws.read_mask(drawn)[128, 100:160].all()
    ui.screenshot("walkthrough-07-anomaly-masks-drawn")

    # 7. Inpaint with the weight-free backend: a background job for all 7 masks.
    ui.go("inpaint", "Inpaint")
    ui.wait_text("7 anomaly mask(s) wait")
    ui.click(".st-key-start button")
    ui.wait_until(lambda: list_jobs(ws.catalog, "inpaint"), 30)
    [job] = list_jobs(ws.catalog, "inpaint")
    ui.wait_until(lambda: get_job(ws.catalog, job.id).state == "done", 120)
    ui.wait_text("7 of 7 done")
    ui.wait_text("0 anomaly mask(s) wait")  # the page redraws when the job ends
    synthetic = [t.anomaly for t in review.tiles(ws, cls.id)]
    assert len(synthetic) == 7 and all(ws.path(a.file).is_file() for a in synthetic)
    assert {a.mask_id for a in synthetic} == {m.id for _, m in anomaly_masks(ws, cls)}
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'end'});",
                             ui.driver.find_elements(By.CSS_SELECTOR, "[data-testid='stProgress']")[-1])
    ui.screenshot("walkthrough-08-inpaint")

    # 8. Review: accept one, reject one, regenerate one, then accept everything that passed QC.
    ui.go("review", "Review")
    accepted, rejected, redone = (a.id for a in synthetic[:3])
    ui.wait_text(f"#{redone}")
    status = lambda item_id: ws.catalog.item(item_id).status  # noqa: E731
    ui.click(f".st-key-accept_{accepted} button")
    ui.wait_until(lambda: status(accepted) == "accepted")
    ui.wait_idle()
    ui.click(f".st-key-reject_{rejected} button")
    ui.wait_until(lambda: status(rejected) == "rejected")
    ui.wait_idle()
    ui.click(f".st-key-regen_{redone} button")
    ui.wait_until(lambda: status(redone) == "rejected")
    new = max(a.id for a in ws.catalog.items(cls.id, "anomaly"))
    assert status(new) == "pending" and ws.catalog.item(new).mask_id == ws.catalog.item(redone).mask_id
    # Undo after regenerate: the old result is back and the new one is gone (never two results for one mask).
    ui.wait_idle()
    ui.click(".st-key-undo button")
    ui.wait_until(lambda: (status(redone), status(new)) == ("pending", "deleted"))
    ui.wait_idle()
    ui.click(f".st-key-regen_{redone} button")  # and again, for good
    ui.wait_until(lambda: status(redone) == "rejected")
    new = max(a.id for a in ws.catalog.items(cls.id, "anomaly"))
    assert status(new) == "pending" and ws.catalog.item(new).mask_id == ws.catalog.item(redone).mask_id
    ui.wait_text(f"#{new}")
    ui.screenshot("walkthrough-09-review")
    passing = {t.anomaly.id for t in review.tiles(ws, cls.id, ("pending",), flag="passed")}
    ui.click(".st-key-accept_passing button")
    ui.wait_until(lambda: all(status(i) == "accepted" for i in passing))
    exported = ws.catalog.items(cls.id, "anomaly", ("accepted",))
    assert len(exported) == 2 + 1 + len(passing)

    # 9. Export both layouts into folders of the user's choice.
    ui.go("export", "Export")
    dsaii_out, mvtec_out = tmp_path / "out-dsaii", tmp_path / "out-mvtec"
    ui.fill(".st-key-export_out input", str(dsaii_out))
    ui.click_button("Export")
    ui.wait_text("dsaii export: 1 classes")
    assert len(list((dsaii_out / "hazelnut" / "normal").glob("*.png"))) == 6
    assert len(list((dsaii_out / "hazelnut" / "anomaly").glob("*.png"))) == len(exported)
    assert len(list((dsaii_out / "hazelnut" / "mask").glob("*.png"))) == len(exported)
    urls = json.loads((dsaii_out / "hazelnut" / "img_url.json").read_text())
    assert len(urls) == 6 and sum(bool(u["url"]) for u in urls) == 1  # the kept crawled image keeps its source
    ui.driver.find_element(By.XPATH, "//label[.//*[starts-with(normalize-space(text()), 'MVTec AD')]]").click()
    ui.wait_idle()
    ui.fill(".st-key-export_out input", str(mvtec_out))
    ui.click_button("Export")
    ui.wait_text("mvtec export: 1 classes")
    category = mvtec_out / "hazelnut"
    train, test_good = (len(list((category / d).glob("*.png"))) for d in ("train/good", "test/good"))
    assert train + test_good == 6 and test_good == 1
    defects = {d.name: len(list(d.glob("*.png"))) for d in (category / "test").iterdir() if d.name != "good"}
    assert defects == {"crack": 1, "hole": 1, "synthetic": len(exported) - 2}
    for defect, count in defects.items():
        assert len(list((category / "ground_truth" / defect).glob("*_mask.png"))) == count
    assert json.loads((mvtec_out / "manifest.json").read_text())["layout"] == "mvtec"
    ui.screenshot("walkthrough-10-export")

    # 10. Benchmark: run the weight-free baseline in the background and read the per-class dashboard.
    ui.go("benchmark", "Benchmark")
    ui.click(".st-key-bench_run button")
    ui.wait_until(lambda: ws.catalog.runs(), 30)
    [run] = ws.catalog.runs()
    ui.wait_until(lambda: any(r.class_name == "hazelnut" for r in ws.catalog.run_metrics([run.id])), 180)
    metrics = {r.metric: r.value for r in ws.catalog.run_metrics([run.id])}
    assert 0.0 <= metrics["image_auroc"] <= 1.0 and 0.0 <= metrics["pixel_auroc"] <= 1.0
    ui.wait_text("One class of one run", timeout=60)
    chart = WebDriverWait(ui.driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot"))[0]
    bars = WebDriverWait(ui.driver, 60).until(lambda d: chart.find_elements(By.CSS_SELECTOR, ".barlayer .point"))
    assert len(bars) == 1 and [t.text for t in chart.find_elements(By.CSS_SELECTOR, ".xtick text")] == ["hazelnut"]
    ui.screenshot("walkthrough-11-benchmark")

    # 11. Collect: a Magnetic-tile-style folder, each photo with a same-stem mask beside it (x.jpg + x.png).
    tiles = magnetic_tile_copy(tmp_path / "Magnetic-tile")
    ui.go("", "Collect")  # the default page: its link is the app's root
    ui.fill(".st-key-import_license input", "research use with citation")
    ui.wait_idle()
    WebDriverWait(ui.driver, 60).until(lambda d: d.find_elements(
        By.XPATH, "//*[@role='tab'][contains(., 'Folder on this machine')] | //*[text()='Folder on this machine']"))[0].click()
    ui.fill(".st-key-folder_path input", str(tiles))
    ui.fill(".st-key-folder_class input", "magnetic tile")
    ui.click(".st-key-folder_texture label")
    ui.wait_idle()
    ui.click(".st-key-import_folder button")
    ui.wait_text("Masks beside images (6)")
    tile = ws.get_class("magnetic tile")
    normals, anomalies = (ws.catalog.items(tile.id, role) for role in ("normal", "anomaly"))
    assert len(normals) == 3 and len(anomalies) == 3 and all(a.mask_id for a in anomalies)  # no mask as an image
    names = [ws.catalog.provenance(i.id).original_name for i in normals + anomalies]
    assert all(n.startswith("Magnetic-tile/MT_") and n.endswith(".jpg") for n in names)
    assert {ws.catalog.provenance(i.id).license for i in normals + anomalies} == {"research use with citation"}
    show_last_message(ui)
    ui.screenshot("walkthrough-12-collect-masks-beside-images")
