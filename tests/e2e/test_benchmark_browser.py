"""The Benchmark page in a real browser: the dashboard of a stored run has one bar per class."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.fixtures.bench_data import BENCH_CLASSES, build_bench_workspace, build_run_workspace


def test_dashboard_shows_one_bar_per_class(app_server, ui, tmp_path):
    root = build_run_workspace(build_bench_workspace(tmp_path / "bench"), tmp_path / "ws")
    ui.open(app_server(root) + "/benchmark")
    ui.wait_text("One class of one run")
    wait = WebDriverWait(ui.driver, 60)
    chart = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot"))[0]
    bars = wait.until(lambda d: chart.find_elements(By.CSS_SELECTOR, ".barlayer .point"))
    assert len(bars) == len(BENCH_CLASSES)
    labels = [t.text for t in chart.find_elements(By.CSS_SELECTOR, ".xtick text")]
    assert labels == sorted(BENCH_CLASSES)
    assert "Image AUROC" in chart.text and "DSAII PatchCore mean 57.2%" in chart.text
    ui.screenshot("benchmark-dashboard")
