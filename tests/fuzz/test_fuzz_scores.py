"""Hostile input fuzzing of the score importer's readers: maps and scores.csv raise only DsaiiError."""

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsaii_core.bench.scores_io import read_map, read_scores
from dsaii_core.errors import DsaiiError

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


VALID_NPY = npy_bytes(np.random.default_rng(0).random((8, 8), dtype=np.float32))
map_bytes = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda cut: VALID_NPY[:cut], st.integers(0, len(VALID_NPY))),
    st.builds(lambda pos, byte: VALID_NPY[:pos] + bytes([byte]) + VALID_NPY[pos + 1:],
              st.integers(0, len(VALID_NPY) - 1), st.integers(0, 255)),
    st.builds(npy_bytes, st.sampled_from([np.zeros((2, 3, 4)), np.array([np.nan, 1.0]).reshape(1, 2),
                                          np.array(["a", "b"]), np.zeros(0), np.full((3, 3), np.inf)])),
)


@SETTINGS
@given(data=map_bytes, suffix=st.sampled_from([".npy", ".tiff", ".png"]))
def test_read_map_raises_only_dsaii_errors(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("maps") / f"000{suffix}"
    path.write_bytes(data)
    try:
        array = read_map(path)
    except DsaiiError as exc:
        assert str(path) in str(exc)
    else:
        assert array.ndim == 2 and np.isfinite(array).all()


@SETTINGS
@given(text=st.one_of(st.text(max_size=200),
                      st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8), st.text(max_size=8)), max_size=5)
                      .map(lambda rows: "class,image,score\n" + "\n".join(",".join(r) for r in rows))))
def test_read_scores_raises_only_dsaii_errors(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("scores") / "scores.csv"
    path.write_text(text, encoding="utf-8")
    try:
        scores = read_scores(path)
    except DsaiiError:
        return
    assert all(np.isfinite(v) for v in scores.values())
