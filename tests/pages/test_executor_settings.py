"""The sidebar's 'Jobs run on' settings: the executor choice is saved in the workspace for its background jobs."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dsaii_core.jobs import ExecutorChoice
from dsaii_core.workspace import Workspace
from scripts.browser import free_port

REPO = Path(__file__).resolve().parents[2]


def test_choosing_a_ray_cluster_saves_it_for_the_workspace(tiny_ws):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["workspace_path"] = str(tiny_ws.root)
    at.run()
    assert not at.exception
    assert at.sidebar.expander[0].label == "Jobs run on this machine"
    assert at.text_input(key="ray_address").disabled
    at.radio(key="executor_kind").set_value("ray").run()
    at.text_input(key="ray_address").set_value("auto")
    at.text_input(key="ray_num_gpus").set_value("1/2")
    at.button(key="save_executor").click().run()
    assert "GPUs per worker must be a number" in at.error[0].value
    assert ExecutorChoice.resolve(tiny_ws.catalog).kind == "local"  # nothing saved
    at.text_input(key="ray_num_gpus").set_value("0.5")
    at.text_input(key="ray_address").set_value(f"127.0.0.1:{free_port()}")  # nobody listens there
    at.button(key="save_executor").click().run()
    assert "cannot reach the Ray cluster" in at.error[0].value
    assert ExecutorChoice.resolve(tiny_ws.catalog).kind == "local"  # nothing saved
    at.text_input(key="ray_address").set_value("auto")  # Ray finds the cluster this machine joined
    at.button(key="save_executor").click().run()
    assert not at.exception and not at.error
    assert ExecutorChoice.resolve(Workspace.open(tiny_ws.root).catalog) == ExecutorChoice("ray", "auto", 0.5, None)
    assert at.sidebar.expander[0].label == "Jobs run on a Ray cluster"
    at.text_input(key="ray_num_gpus").set_value("")  # auto: GPUs for GPU work, where the cluster has them
    at.button(key="save_executor").click().run()
    assert ExecutorChoice.resolve(Workspace.open(tiny_ws.root).catalog) == ExecutorChoice("ray", "auto", None, None)
