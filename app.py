"""DSAII Studio: the navigation shell. The sidebar picks a workspace and a class; pages do the rest."""

import streamlit as st

from pages._ui import sidebar

st.set_page_config(page_title="DSAII Studio", page_icon=":material/biotech:", layout="wide")

PAGES = {
    "Data": [
        st.Page("pages/collect.py", title="Collect", icon=":material/download:", default=True),
        st.Page("pages/curate.py", title="Curate", icon=":material/photo_library:"),
    ],
    "Synthesis": [
        st.Page("pages/object_masks.py", title="Object masks", icon=":material/select_all:"),
        st.Page("pages/anomaly_masks.py", title="Anomaly masks", icon=":material/texture:"),
        st.Page("pages/inpaint.py", title="Inpaint", icon=":material/brush:"),
        st.Page("pages/review.py", title="Review", icon=":material/fact_check:"),
    ],
    "Dataset": [
        st.Page("pages/export.py", title="Export", icon=":material/inventory_2:"),
    ],
    "Results": [st.Page("pages/benchmark.py", title="Benchmark", icon=":material/bar_chart:")],
}

navigation = st.navigation(PAGES)
sidebar()
navigation.run()
