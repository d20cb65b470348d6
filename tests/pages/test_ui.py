"""AppTest of the shared page widgets in app_pages/_ui.py."""

from streamlit.testing.v1 import AppTest


def paged_script():
    import streamlit as st

    from app_pages._ui import paginate
    st.write(", ".join(map(str, paginate(list(range(st.session_state["rows"])), 12, "page"))))


def shown(at: AppTest) -> list[int]:
    return [int(v) for v in at.markdown[0].value.split(", ")]


def test_paginate_shows_one_page_and_stays_in_range_when_rows_shrink():
    at = AppTest.from_function(paged_script)
    at.session_state["rows"] = 30
    at.run()
    assert shown(at) == list(range(12)) and at.number_input(key="page").label == "Page (of 3)"
    at.number_input(key="page").set_value(3).run()
    assert shown(at) == list(range(24, 30))
    at.session_state["rows"] = 20  # e.g. decisions under the "pending" filter took ten rows away
    at.run()
    assert not at.exception and shown(at) == list(range(12, 20)) and at.number_input(key="page").value == 2
    at.session_state["rows"] = 5
    at.run()
    assert not at.exception and shown(at) == list(range(5)) and not at.number_input
