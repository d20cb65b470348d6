"""Worker pools start clean even when the parent's __main__ is a page script (as Streamlit's AppTest leaves it)."""

import sys
import types

from dsaii_core.pools import process_pool


def test_a_pool_never_runs_the_parent_s_main_script_again(tmp_path, monkeypatch):
    script = tmp_path / "page.py"
    script.write_text(f"open({str(tmp_path / 'ran')!r}, 'w').write('the page ran again')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    with process_pool(2) as pool:
        assert list(pool.map(abs, [-1, -2, -3])) == [1, 2, 3]
    assert not (tmp_path / "ran").exists() and sys.modules["__main__"] is page
