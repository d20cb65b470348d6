"""The export job: the same bytes as export_workspace on any executor, resumable, refusing foreign folders early."""

import json

import pytest

from dsaii_core import jobs
from dsaii_core.errors import DsaiiError
from dsaii_core.export import export_workspace
from dsaii_core.export_job import ExportTask, export_check, job_export_report, start_export_job


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.mark.parametrize("layout", ["dsaii", "mvtec"])
def test_one_worker_two_workers_and_export_workspace_write_the_same_bytes(demo_ws, tmp_path, layout):
    export_workspace(demo_ws, tmp_path / "direct", layout, seed=3)
    one = start_export_job(demo_ws, tmp_path / "one", layout, seed=3)
    assert jobs.run_job(demo_ws, one.id).state == "done"
    two = start_export_job(demo_ws, tmp_path / "two", layout, seed=3)
    assert jobs.run_job(demo_ws, two.id, executor=jobs.LocalExecutor(2, pool_after_s=0)).state == "done"
    assert tree(tmp_path / "one") == tree(tmp_path / "direct") == tree(tmp_path / "two")
    assert leftovers(tmp_path) == []
    report = job_export_report(demo_ws, jobs.get_job(demo_ws.catalog, one.id))
    assert report.summary().startswith(f"{layout} export: 4 classes, 60 normal and 34 anomaly images")
    check = export_check(demo_ws, jobs.get_job(demo_ws.catalog, one.id))
    assert check is not None and check.clean and check.root == tmp_path / "one" and check.counts["classes"] == 4


def test_a_cancelled_export_keeps_the_earlier_one_and_resumed_writes_the_same_bytes(demo_ws, tmp_path):
    export_workspace(demo_ws, tmp_path / "expected", "mvtec")
    job = start_export_job(demo_ws, tmp_path / "out", "dsaii")
    jobs.run_job(demo_ws, job.id)
    earlier = tree(tmp_path / "out")
    job = start_export_job(demo_ws, tmp_path / "out", "mvtec")

    def cancel_after_one_class(fraction):
        if 0 < fraction < 1:
            jobs.request_cancel(demo_ws.catalog, job.id)

    assert jobs.run_job(demo_ws, job.id, progress=cancel_after_one_class).state == "cancelled"
    assert tree(tmp_path / "out") == earlier  # nothing swapped in
    assert leftovers(tmp_path) == [f".out.tmp-{job.params['scratch'].rsplit('-', 1)[1]}"]  # kept for the resume
    assert export_check(demo_ws, jobs.get_job(demo_ws.catalog, job.id)) is None
    jobs.prepare_resume(demo_ws.catalog, job.id)
    assert jobs.run_job(demo_ws, job.id).state == "done"
    assert tree(tmp_path / "out") == tree(tmp_path / "expected") and leftovers(tmp_path) == []


def test_finish_is_safe_to_run_again_after_the_swap(demo_ws, tmp_path):
    job = start_export_job(demo_ws, tmp_path / "out", "dsaii")
    job = jobs.run_job(demo_ws, job.id)
    before = tree(tmp_path / "out")
    ExportTask(demo_ws, job).finish(job)  # as a resumed job whose worker died after the swap
    assert tree(tmp_path / "out") == before and export_check(demo_ws, job).clean


def test_a_foreign_folder_is_refused_before_the_job_exists(demo_ws, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/thesis.tex").write_text("precious")
    with pytest.raises(DsaiiError, match="not an earlier export") as error:
        start_export_job(demo_ws, tmp_path / "mine", "dsaii")
    assert "\n" not in str(error.value) and jobs.list_jobs(demo_ws.catalog, "export") == []
    with pytest.raises(DsaiiError, match="test ratio"):
        start_export_job(demo_ws, tmp_path / "o", "mvtec", test_ratio=1.5)
    assert (tmp_path / "mine/thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-ws", "mine"]


def test_a_new_export_removes_the_scratch_of_an_abandoned_one_whose_resume_then_fails_clearly(demo_ws, tmp_path):
    abandoned = start_export_job(demo_ws, tmp_path / "out", "dsaii")
    jobs.run_job(demo_ws, abandoned.id, progress=lambda f: f > 0 and jobs.request_cancel(demo_ws.catalog, abandoned.id))
    assert leftovers(tmp_path)
    job = start_export_job(demo_ws, tmp_path / "out", "dsaii", class_names=["hazelnut"])
    assert leftovers(tmp_path) == []
    jobs.run_job(demo_ws, job.id)
    assert json.loads((tmp_path / "out/manifest.json").read_text())["classes"].keys() == {"hazelnut"}
    jobs.prepare_resume(demo_ws.catalog, abandoned.id)
    with pytest.raises(DsaiiError, match="went missing from the export being built"):
        jobs.run_job(demo_ws, abandoned.id)
    assert json.loads((tmp_path / "out/manifest.json").read_text())["classes"].keys() == {"hazelnut"}
