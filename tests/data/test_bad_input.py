"""Every problem a user's file can have is a DatasetError naming the file, field and fix."""

import json

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workbench as wb
from _factory import flat_arrays, make_dataset
from workbench import DatasetError, WorkbenchError


def write_d4rl(path, arrays):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
    return path


def load_error(path) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        wb.load_dataset(path)
    err = info.value
    assert isinstance(err, WorkbenchError)
    assert str(path) in str(err), "the message names the file"
    assert "Fix:" in str(err) or err.fix is None
    return err


def test_missing_key(tmp_path):
    a = flat_arrays()
    a["obs"] = a.pop("observations")  # misnamed
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert err.field == "observations" and "missing" in str(err)


def test_missing_key_npz(tmp_path):
    a = flat_arrays()
    del a["rewards"]
    np.savez(tmp_path / "x.npz", **a)
    err = load_error(tmp_path / "x.npz")
    assert err.field == "rewards"


def test_arrays_of_different_lengths(tmp_path):
    a = flat_arrays()
    a["rewards"] = a["rewards"][:-3]
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert err.field == "rewards" and "57 rows" in str(err) and "60" in str(err)


@pytest.mark.parametrize("key", ["observations", "actions", "rewards", "next_observations"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf(tmp_path, key, bad):
    a = flat_arrays(discrete=False)
    a[key] = a[key].copy()
    a[key][7] = bad
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert err.field == key and "row 7" in str(err)


def test_empty_dataset(tmp_path):
    a = {k: v[:0] for k, v in flat_arrays().items()}
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert "empty" in str(err)


def test_wrong_dtype(tmp_path):
    a = flat_arrays()
    a["rewards"] = np.array([b"1.0"] * 60)
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert err.field == "rewards" and "dtype" in str(err)


def test_non_boolean_flags(tmp_path):
    a = flat_arrays()
    a["terminals"] = a["terminals"].astype(np.float32) * 2
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert err.field == "terminals"


# Image observations are supported now (tests/data/test_images.py); what stays refused, with
# a fix, is what is not an image the workbench keeps as uint8 pixels:
def test_float_image_observations_are_refused_clearly(tmp_path):
    a = flat_arrays()
    a["observations"] = np.zeros((60, 8, 8, 3), np.float32)
    del a["next_observations"]
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert err.field == "observations" and "uint8" in str(err) and "28 GB" in str(err)
    assert "np.round(x * 255).astype(np.uint8)" in err.fix


def test_observations_with_more_than_three_axes_are_refused(tmp_path):
    a = flat_arrays()
    a["observations"] = np.zeros((60, 2, 4, 8, 8), np.uint8)
    del a["next_observations"]
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert err.field == "observations" and "more than three axes" in str(err)


def test_integer_images_outside_the_pixel_range_are_refused(tmp_path):
    a = flat_arrays()
    a["observations"] = np.full((60, 8, 8, 3), 300, np.int64)
    del a["next_observations"]
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert "0..255" in str(err) and "300" in str(err)


def test_float_matrix_per_step_is_refused(tmp_path):
    a = flat_arrays()
    a["observations"] = np.zeros((60, 3, 5), np.float32)
    del a["next_observations"]
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert err.field == "observations" and "float matrix" in str(err)


def test_one_hot_discrete_actions_wrong_shape(tmp_path):
    a = flat_arrays()
    a["actions"] = np.eye(3, dtype=np.int64)[a["actions"]]
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert err.field == "actions" and "one-hot" in str(err)


def test_episode_that_never_ends(tmp_path):
    a = flat_arrays(ends={})
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert "no episode ever ends" in str(err) and "timeouts[-1]" in str(err)


def test_episode_that_never_ends_in_table(tmp_path):
    df = make_dataset().to_frame()
    df.loc[9, "terminated"] = False  # episode 0 runs into episode 1 without an end
    df.to_parquet(tmp_path / "x.parquet")
    err = load_error(tmp_path / "x.parquet")
    assert "never ends" in str(err)


def test_terminal_and_timeout_both_set(tmp_path):
    a = flat_arrays()
    a["timeouts"][9] = True
    err = load_error(write_d4rl(tmp_path / "x.hdf5", a))
    assert "both set" in str(err) and "row 9" in str(err)


def test_truncated_hdf5(tmp_path):
    path = make_dataset(200).save(tmp_path / "x.hdf5")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    load_error(path)


def test_garbage_file_with_known_suffix(tmp_path):
    (tmp_path / "x.hdf5").write_bytes(b"not really hdf5" * 10)
    load_error(tmp_path / "x.hdf5")
    (tmp_path / "y.npz").write_bytes(b"PK\x03\x04garbage")
    load_error(tmp_path / "y.npz")


def test_unknown_format(tmp_path):
    (tmp_path / "x.pkl").write_bytes(b"\x80\x04whatever")
    err = load_error(tmp_path / "x.pkl")
    assert "unknown format" in str(err)


def test_missing_path_or_unknown_name():
    with pytest.raises(DatasetError, match="neither an existing path"):
        wb.load_dataset("no-such-dataset-anywhere")


def test_unknown_write_format(tmp_path):
    with pytest.raises(DatasetError, match="cannot write format"):
        make_dataset().save(tmp_path / "x.bin", format="pickle")


def _minari_with_space(tmp_path, space: dict):
    path = make_dataset().save(tmp_path / "m", format="minari")
    meta_path = path / "data" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["observation_space"] = json.dumps(space)
    del meta["workbench_meta"]
    meta_path.write_text(json.dumps(meta))
    return path


def test_minari_unsupported_space(tmp_path):
    path = _minari_with_space(tmp_path, {"type": "Dict", "subspaces": {}})
    err = load_error(path)
    assert err.field == "observation_space" and "Dict" in str(err)


def test_minari_missing_metadata(tmp_path):
    path = make_dataset().save(tmp_path / "m", format="minari")
    (path / "data" / "metadata.json").unlink()
    err = load_error(path)
    assert "metadata.json" in str(err)


def test_minari_misaligned_observations(tmp_path):
    path = make_dataset().save(tmp_path / "m", format="minari")
    with h5py.File(path / "data" / "main_data.hdf5", "a") as f:
        obs = f["episode_1/observations"][()]
        del f["episode_1/observations"]
        f.create_dataset("episode_1/observations", data=obs[:-1])  # T instead of T+1
    err = load_error(path)
    assert err.field == "episode_1/observations" and "T + 1" in str(err)


def test_tampered_file_fails_checksum(tmp_path):
    path = make_dataset().save(tmp_path / "x.hdf5")
    with h5py.File(path, "a") as f:
        f["rewards"][3] = 123.0
    err = load_error(path)
    assert "checksum" in str(err)


def test_in_memory_constructor_validates():
    a = flat_arrays()
    a["actions"] = a["actions"][:10]
    with pytest.raises(DatasetError, match="'actions'.*10 rows"):
        wb.EpisodeDataset.from_flat(a["observations"], a["actions"], a["rewards"],
                                    a["terminals"], a["timeouts"])


# ---------------------------------------------------------------- random corruption (property)
_FILES: dict[str, tuple[bytes, wb.EpisodeDataset]] = {}


def _valid_file(fmt: str, tmp_path_factory) -> tuple[bytes, wb.EpisodeDataset]:
    if fmt not in _FILES:
        ds = make_dataset(40, discrete=(fmt != "d4rl"))
        name = {"npz": "x.npz", "d4rl": "x.hdf5", "parquet": "x.parquet",
                "minari": "m/data/main_data.hdf5"}[fmt]
        root = tmp_path_factory.mktemp(f"valid-{fmt}")
        ds.save(root / ("m" if fmt == "minari" else name), format=fmt)
        _FILES[fmt] = ((root / name).read_bytes(), ds)
    return _FILES[fmt]


@pytest.mark.parametrize("fmt", ["d4rl", "npz", "parquet", "minari"])
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_corruption_gives_correct_dataset_or_dataset_error(fmt, data, tmp_path_factory):
    raw, original = _valid_file(fmt, tmp_path_factory)
    buf = bytearray(raw)
    n_flips = data.draw(st.integers(1, 8))
    for _ in range(n_flips):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        buf = buf[: data.draw(st.integers(0, len(buf)))]  # truncation too
    root = tmp_path_factory.mktemp("corrupt")
    if fmt == "minari":
        path = make_dataset(40).save(root / "m", format="minari")
        (path / "data" / "main_data.hdf5").write_bytes(bytes(buf))
    else:
        path = root / {"npz": "x.npz", "d4rl": "x.hdf5", "parquet": "x.parquet"}[fmt]
        path.write_bytes(bytes(buf))
    try:
        ds = wb.load_dataset(path)
    except DatasetError:
        return
    assert ds.equals(original), "a corrupted file loaded without error must load correctly"
