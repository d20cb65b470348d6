"""DSAII Studio: the navigation shell. The sidebar picks a workspace and a class; pages do the rest."""

import streamlit as st

from app_pages._ui import sidebar, warm_up_imports

st.set_page_config(page_title="DSAII Studio", page_icon=":material/biotech:", layout="wide")

PAGES = {
    "Data": [
        st.Page("app_pages/collect.py", title="Collect", icon=":material/download:", default=True),
        st.Page("app_pages/curate.py", title="Curate", icon=":material/photo_library:"),
    ],
    "Synthesis": [
        st.Page("app_pages/object_masks.py", title="Object masks", icon=":material/select_all:"),
        st.Page("app_pages/anomaly_masks.py", title="Anomaly masks", icon=":material/texture:"),
        st.Page("app_pages/inpaint.py", title="Inpaint", icon=":material/brush:"),
        st.Page("app_pages/review.py", title="Review", icon=":material/fact_check:"),
    ],
    "Dataset": [
        st.Page("app_pages/export.py", title="Export", icon=":material/inventory_2:"),
    ],
    "Results": [st.Page("app_pages/benchmark.py", title="Benchmark", icon=":material/bar_chart:")],
}

warm_up_imports()
navigation = st.navigation(PAGES)
sidebar()
navigation.run()
