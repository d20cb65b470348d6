"""DSAII Studio: the navigation shell. The sidebar picks a workspace and a class; pages do the rest.

Served with sign-in ([auth] in .streamlit/secrets.toml), a signed-out visitor gets the sign-in button only.
"""

import streamlit as st

from app_pages._ui import sidebar, sign_in_page, signed_out, user_errors, warm_up_imports

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
signed_in = not signed_out()
navigation = st.navigation(PAGES, position="sidebar" if signed_in else "hidden")  # deep links stay valid
if not signed_in:
    sign_in_page()  # and nothing else: no sidebar, no page
else:
    with user_errors():  # a full disk or a failing catalog anywhere on a page: one line, not a traceback
        sidebar()
        navigation.run()
