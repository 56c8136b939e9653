"""mg.load on hostile or broken files: checked before anything is allocated or inflated.

Every bad file must give one CheckpointError line that says what is wrong and what was
expected, and never suggests allow_pickle.  The bombs here are small on disk but declare
gigabytes; the tests make sure nothing is decompressed (zipfile's open is booby-trapped).
"""
import io
import json
import struct
import zipfile
import zlib

import numpy as np
import pytest

import minigrad as mg


def npy(shape, dtype="<f8", data=None):
    """An .npy file: the header NumPy writes for ``shape`` and ``dtype``, then ``data``."""
    f = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(f, header)
    if data is None:
        data = bytes(int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return f.getvalue() + data


def handmade_zip(path, members):
    """A zip written byte by byte from (name, method, data, declared size) members, so that a
    member can declare more than it holds.  (Only stored members get a CRC: the others must be
    refused before anything is inflated.)"""
    body, central = bytearray(), bytearray()
    for name, method, data, size in members:
        n, crc = name.encode(), zlib.crc32(data) if method == 0 else 0
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21,
                               crc, len(data), size, len(n), 0, 0, 0, 0, 0, len(body)) + n
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21,
                            crc, len(data), size, len(n), 0) + n + data
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(central), len(body), 0)
    path.write_bytes(bytes(body + central + end))
    return path


def deflated_zeros(header, mib):
    """A raw deflate stream of ``header`` and then ``mib`` MiB of zeros, built from one
    compressed MiB repeated (a full flush makes the blocks identical): about 1 KiB per MiB."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(2 ** 20)) + c.flush(zlib.Z_FULL_FLUSH)
    return head + block * mib + c.flush()


@pytest.fixture
def nothing_inflated(monkeypatch):
    """Refusals must come from the zip directory alone: opening a member fails the test."""
    def trap(*args, **kwargs):
        raise AssertionError("a member was opened before the file was refused")
    monkeypatch.setattr(zipfile.ZipFile, "open", trap)


def refused(path, *words):
    with pytest.raises(mg.CheckpointError) as e:
        mg.load(path)
    message = str(e.value)
    assert "\n" not in message and "allow_pickle" not in message, message
    assert "not a readable minigrad checkpoint" in message and "expected an .npz" in message, message
    for w in words:
        assert w in message, message
    return message


# --------------------------------------------------------------------------- what is accepted
def test_numeric_arrays_and_a_json_string_round_trip(tmp_path):
    meta = json.dumps({"config": {"task": "adding"}, "history": [{"update": 1, "error": 0.5}] * 100})
    state = {"model.W": np.arange(6.0).reshape(2, 3), "model.W.T": np.asfortranarray(np.ones((3, 2))),
             "step": np.array(3), "mask": np.array([True, False]), "big_endian": np.arange(3, dtype=">i4"),
             "z": np.zeros((0, 4), np.float32), "meta": np.array(meta)}
    mg.save(state, tmp_path / "ck.npz")
    back = mg.load(tmp_path / "ck.npz")
    assert list(back) == list(state)
    for k, v in state.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)
    assert json.loads(str(back["meta"])) == json.loads(meta)
    with zipfile.ZipFile(tmp_path / "ck.npz") as z:                     # plain: stored, no pickle
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}


def test_a_small_compressed_npz_is_accepted(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", w=np.zeros((100, 100)), b=np.ones(3))   # 80 kB of zeros
    assert mg.load(tmp_path / "c.npz")["w"].shape == (100, 100)


def test_save_refuses_what_load_would_refuse(tmp_path):
    for bad in ({"o": np.array([{}], dtype=object)}, {"s": np.array(["a", "b"])},
                {"t": np.array(np.datetime64("2024-01-01"))}, {"": np.ones(1)}, {"a\nb": np.ones(1)}):
        with pytest.raises(TypeError, match="save: entry"):
            mg.save(bad, tmp_path / "x.npz")


# --------------------------------------------------------------------------- not an .npz at all
def test_an_npy_file_is_named_as_such(tmp_path):
    np.save(tmp_path / "w.npy", np.ones(3))
    refused(tmp_path / "w.npy", "a single .npy array")


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", bytes(range(256)) * 40])
def test_random_bytes(tmp_path, content):
    (tmp_path / "r.npz").write_bytes(content)
    refused(tmp_path / "r.npz", "not a zip file")


def test_a_truncated_checkpoint(tmp_path):
    mg.save({"W": np.ones((50, 50))}, tmp_path / "ck.npz")
    whole = (tmp_path / "ck.npz").read_bytes()
    for cut in (len(whole) // 2, len(whole) - 10):
        (tmp_path / "cut.npz").write_bytes(whole[:cut])
        refused(tmp_path / "cut.npz")


def test_a_corrupted_member(tmp_path):
    mg.save({"W": np.ones((50, 50))}, tmp_path / "ck.npz")
    data = bytearray((tmp_path / "ck.npz").read_bytes())
    data[1000] ^= 0xFF                                                      # inside W's values
    (tmp_path / "ck.npz").write_bytes(bytes(data))
    refused(tmp_path / "ck.npz", "CRC")


# --------------------------------------------------------------------------- members
def test_object_arrays_are_refused_without_mentioning_pickle_options(tmp_path):
    np.savez(tmp_path / "o.npz", w=np.ones(2), o=np.array([{"a": 1}, None], dtype=object))
    refused(tmp_path / "o.npz", "o.npy holds Python objects")


@pytest.mark.parametrize("array, words", [
    (np.array(["a", "b"]), "not bool, int, float or complex"),
    (np.array(np.datetime64("2024-01-01")), "datetime64"),
    (np.zeros(2, dtype=[("a", "f8"), ("b", "i4")]), "not bool, int"),
])
def test_other_dtypes_are_refused(tmp_path, array, words):
    np.savez(tmp_path / "d.npz", x=array)
    refused(tmp_path / "d.npz", "x.npy has dtype", words)


def test_an_oversized_string_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(mg.nn, "MAX_TEXT_CHARS", 100)
    np.savez(tmp_path / "m.npz", meta=np.array("x" * 101))
    refused(tmp_path / "m.npz", "meta.npy is a string of more than MAX_TEXT_CHARS = 100")


@pytest.mark.parametrize("names, words", [
    (["a.npy", "a.npy"], "appears twice"),
    (["a.npy", "notes.txt"], "'notes.txt' is not named <key>.npy"),
    (["bad\nname.npy"], "is not named <key>.npy"),
    ([".npy"], "is not named <key>.npy"),
    (["x" * 300 + ".npy"], "1 to 256 printable characters"),
])
def test_member_names(tmp_path, nothing_inflated, names, words):
    data = npy((2,))
    handmade_zip(tmp_path / "n.npz", [(n, 0, data, len(data)) for n in names])
    refused(tmp_path / "n.npz", words)


def test_too_many_members(tmp_path, monkeypatch, nothing_inflated):
    monkeypatch.setattr(mg.nn, "MAX_ARRAYS", 3)
    data = npy((1,))
    handmade_zip(tmp_path / "n.npz", [(f"a{i}.npy", 0, data, len(data)) for i in range(4)])
    refused(tmp_path / "n.npz", "4 members, more than MAX_ARRAYS = 3")


def test_other_compression_methods_are_refused(tmp_path, nothing_inflated):
    data = npy((2,))
    handmade_zip(tmp_path / "b.npz", [("w.npy", zipfile.ZIP_BZIP2, data, len(data))])
    refused(tmp_path / "b.npz", "compressed with method 12")


# --------------------------------------------------------------------------- shapes and sizes
def test_a_shape_far_beyond_the_member_is_refused_before_allocating(tmp_path):
    """8 TB declared in 16 bytes: np.load would allocate the declared size first."""
    data = npy((10 ** 12,), data=bytes(16))
    handmade_zip(tmp_path / "s.npz", [("w.npy", 0, data, len(data))])
    refused(tmp_path / "s.npz", "w.npy: shape (1000000000000,) of float64 needs 8000000000000 bytes, "
                                "the member holds 16")


def test_trailing_bytes_are_refused(tmp_path):
    data = npy((2,)) + b"junk"
    handmade_zip(tmp_path / "t.npz", [("w.npy", 0, data, len(data))])
    refused(tmp_path / "t.npz", "needs 16 bytes, the member holds 20")


@pytest.mark.parametrize("header", [b"\x93NUMPY\x03\x00", b"\x93NUMPY\x01\x00\xff\xff{'descr': 'O'",
                                    b"PK\x03\x04 not an npy"])
def test_broken_headers(tmp_path, header):
    data = header + bytes(64)
    handmade_zip(tmp_path / "h.npz", [("w.npy", 0, data, len(data))])
    refused(tmp_path / "h.npz", "w.npy: not an .npy array of format 1.0 or 2.0")


def test_a_stored_member_whose_sizes_disagree(tmp_path, nothing_inflated):
    data = npy((2,))
    handmade_zip(tmp_path / "s.npz", [("w.npy", 0, data, 10 ** 9)])
    refused(tmp_path / "s.npz", f"stored member of {len(data)} bytes declares 1000000000")


def test_a_zip_bomb_is_refused_by_its_ratio(tmp_path, nothing_inflated):
    """64 MiB of zeros deflated to about 64 KiB (1000 times): refused before inflating."""
    header = npy((8 * 2 ** 20,), data=b"")
    data = deflated_zeros(header, 64)
    assert len(data) < 100_000
    handmade_zip(tmp_path / "bomb.npz", [("w.npy", 8, data, len(header) + 64 * 2 ** 20)])
    refused(tmp_path / "bomb.npz", "would inflate to", "MAX_RATIO = 100")


def test_a_zip_bomb_beyond_the_size_limit(tmp_path, monkeypatch, nothing_inflated):
    """2.05 GiB of zeros in about 2 MiB on disk: refused by its ratio, and by its size too."""
    header = npy((2100 * 2 ** 17,), data=b"")
    data = deflated_zeros(header, 2100)
    assert len(data) < 3 * 2 ** 20
    handmade_zip(tmp_path / "bomb.npz", [("w.npy", 8, data, len(header) + 2100 * 2 ** 20)])
    refused(tmp_path / "bomb.npz", "would inflate")
    monkeypatch.setattr(mg.nn, "MAX_RATIO", 10 ** 6)
    refused(tmp_path / "bomb.npz", f"more than MAX_CHECKPOINT_BYTES = {2 ** 31} bytes")


def test_the_size_limit_counts_all_members(tmp_path, monkeypatch):
    mg.save({"a": np.ones(100), "b": np.ones(100)}, tmp_path / "ck.npz")
    monkeypatch.setattr(mg.nn, "MAX_CHECKPOINT_BYTES", 1000)
    refused(tmp_path / "ck.npz", "more than MAX_CHECKPOINT_BYTES = 1000 bytes")
    monkeypatch.setattr(mg.nn, "MAX_CHECKPOINT_BYTES", 2000)
    assert set(mg.load(tmp_path / "ck.npz")) == {"a", "b"}


def test_a_model_load_reports_the_file(tmp_path):
    lin = mg.nn.Linear(2, 3)
    np.savez(tmp_path / "o.npz", weight=np.array([None] * 6, dtype=object).reshape(3, 2), bias=np.ones(3))
    with pytest.raises(mg.CheckpointError, match="o.npz: not a readable minigrad checkpoint"):
        lin.load(tmp_path / "o.npz")
