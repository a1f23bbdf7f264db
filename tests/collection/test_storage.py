"""Blob stores: one contract suite run against memory, a local folder, and a real S3-protocol server."""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from collection.errors import BlobNotFound, InvalidBlobKey, StorageBackendError, StorageError
from collection.storage import (
    BlobStore,
    LocalBlobStore,
    MemoryBlobStore,
    S3BlobStore,
    delete_prefix,
    make_s3_client,
    new_blob_key,
    validate_key,
)

BAD_KEYS = [
    "",
    "../x",
    "a/../b",
    "/abs",
    "a//b",
    "a/",
    ".hidden",
    "a/./b",
    "a\\b",
    "ä",
    "with space",
    "a" * 129,
    "x/" * 300 + "y",
]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3-protocol HTTP server (moto's server mode) on a free loopback port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3_client(endpoint: str) -> Any:
    return make_s3_client(
        endpoint_url=endpoint,
        region_name="us-east-1",
        access_key_id="test",
        secret_access_key="test",
        path_style=True,
    )


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "memory":
        return MemoryBlobStore()
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    client = _s3_client(request.getfixturevalue("s3_endpoint"))
    bucket = f"blobs-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return S3BlobStore(bucket, client)


# --- the contract every backend meets --------------------------------------------------------------


def test_put_get_round_trip_and_overwrite(store: BlobStore) -> None:
    payload = os.urandom(1 << 20)
    store.put("photos/c1/a1", payload)
    assert store.get("photos/c1/a1") == payload
    assert store.size("photos/c1/a1") == len(payload)
    store.put("photos/c1/a1", b"second")
    assert store.get("photos/c1/a1") == b"second"
    assert store.size("photos/c1/a1") == 6


def test_empty_blob(store: BlobStore) -> None:
    store.put("e", b"")
    assert store.get("e") == b"" and store.size("e") == 0 and store.exists("e")


def test_missing_blob(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound) as err:
        store.get("photos/none")
    assert err.value.key == "photos/none"
    with pytest.raises(BlobNotFound):
        store.size("photos/none")
    assert not store.exists("photos/none")


def test_delete_is_idempotent(store: BlobStore) -> None:
    store.put("a/b", b"x")
    store.put("a/c", b"y")
    store.delete("a/b")
    store.delete("a/b")
    store.delete("never/there")
    assert not store.exists("a/b") and store.get("a/c") == b"y"
    assert list(store.iter_keys()) == ["a/c"]


def test_iter_keys_by_prefix_in_ascending_order(store: BlobStore) -> None:
    keys = ["p/c1/z", "p/c1/a", "p/c10/b", "p/c1-x", "p/c1/sub/k", "q/1", "p-other"]
    for key in keys:
        store.put(key, key.encode())
    assert list(store.iter_keys()) == sorted(keys)
    assert list(store.iter_keys("p/c1/")) == ["p/c1/a", "p/c1/sub/k", "p/c1/z"]
    assert list(store.iter_keys("p/c1")) == ["p/c1-x", "p/c1/a", "p/c1/sub/k", "p/c1/z", "p/c10/b"]
    assert list(store.iter_keys("p/c2")) == []
    assert list(store.iter_keys("nothing/")) == []


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_refused_everywhere(store: BlobStore, key: str) -> None:
    for operation in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.delete(key)):
        with pytest.raises(InvalidBlobKey):
            operation()
    with pytest.raises(InvalidBlobKey):
        store.exists(key)
    with pytest.raises(InvalidBlobKey):
        store.size(key)
    assert list(store.iter_keys()) == []


@pytest.mark.parametrize("prefix", ["../", "/x", "a//", "a/../"])
def test_invalid_prefixes_are_refused(store: BlobStore, prefix: str) -> None:
    with pytest.raises(InvalidBlobKey):
        list(store.iter_keys(prefix))


def test_delete_prefix_removes_exactly_that_subtree(store: BlobStore) -> None:
    for key in ("photos/c1/a", "photos/c1/b", "thumbs/c1/a", "photos/c2/a"):
        store.put(key, b"x")
    assert delete_prefix(store, "photos/c1/") == 2
    assert list(store.iter_keys()) == ["photos/c2/a", "thumbs/c1/a"]
    with pytest.raises(InvalidBlobKey):
        delete_prefix(store, "")


def test_readers_never_see_a_partial_write(store: BlobStore) -> None:
    """Overwrite a blob with two 256 KiB contents while readers check each read is whole."""
    first, second = b"A" * (256 * 1024), b"B" * (256 * 1024)
    store.put("hot", first)
    stop = threading.Event()
    torn: list[int] = []

    def read() -> None:
        while not stop.is_set():
            data = store.get("hot")
            if data not in (first, second):
                torn.append(len(data))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for index in range(60):
        store.put("hot", second if index % 2 == 0 else first)
    stop.set()
    for reader in readers:
        reader.join()
    assert torn == []


def test_listings_carry_each_blob_s_write_time(store: BlobStore) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)  # S3 stamps whole seconds
    for key in ("a/2", "a/1", "b/1"):
        store.put(key, b"x")
    listed = list(store.iter_blobs("a/"))
    assert [info.key for info in listed] == ["a/1", "a/2"]
    assert all(before <= info.modified_at <= dt.datetime.now(dt.UTC) for info in listed)
    assert all(info.modified_at.tzinfo is not None for info in listed)


def test_a_usable_store_passes_its_check(store: BlobStore) -> None:
    store.check()


def test_memory_blobs_are_stamped_by_the_given_clock() -> None:
    moment = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    store = MemoryBlobStore(now=lambda: moment)
    store.put("k", b"x")
    assert [(i.key, i.modified_at) for i in store.iter_blobs()] == [("k", moment)]
    store.delete("k")
    assert list(store.iter_blobs()) == []


def test_local_check_fails_when_the_folder_is_gone(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    (tmp_path / "blobs").rmdir()
    with pytest.raises(StorageBackendError, match="missing"):
        store.check()


def test_s3_check_fails_on_a_missing_bucket_or_an_endpoint_that_does_not_answer(s3_endpoint: str) -> None:
    with pytest.raises(StorageBackendError, match="NoSuchBucket"):
        S3BlobStore(f"missing-{uuid.uuid4().hex[:12]}", _s3_client(s3_endpoint)).check()
    silent = make_s3_client(endpoint_url="http://127.0.0.1:9", region_name="us-east-1", access_key_id="test",
                            secret_access_key="test", path_style=True, timeout=1.0, max_attempts=1)
    with pytest.raises(StorageBackendError) as err:
        S3BlobStore("datadam", _s3_client(s3_endpoint), probe_client=silent).check()
    assert err.value.operation == "check"


def test_new_blob_keys_are_random_and_valid() -> None:
    keys = {new_blob_key("photos", "c1") for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert validate_key(key) == key and key.startswith("photos/c1/") and len(key.rsplit("/")[-1]) == 32
    with pytest.raises(InvalidBlobKey):
        new_blob_key("..")


def test_storage_errors_share_the_base() -> None:
    for error in (InvalidBlobKey, BlobNotFound, StorageBackendError):
        assert issubclass(error, StorageError)


# --- local folder specifics -------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_local_files_are_private(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "data")
    store.put("photos/c1/k1", b"secret")
    assert _mode(tmp_path / "data") == 0o700
    assert _mode(tmp_path / "data" / "photos") == 0o700
    assert _mode(tmp_path / "data" / "photos" / "c1") == 0o700
    assert _mode(tmp_path / "data" / "photos" / "c1" / "k1") == 0o600


def test_local_keys_never_leave_the_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "data")
    (tmp_path / "outside").write_bytes(b"do not touch")
    for key in ("../outside", "photos/../../outside", "/etc/passwd"):
        with pytest.raises(InvalidBlobKey):
            store.get(key)
        with pytest.raises(InvalidBlobKey):
            store.delete(key)
    assert (tmp_path / "outside").read_bytes() == b"do not touch"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "outside"]


def test_local_failed_write_keeps_the_old_blob_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobStore(tmp_path / "data")
    store.put("k/1", b"old")

    def crash(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StorageBackendError) as err:
        store.put("k/1", b"new")
    assert err.value.operation == "put" and "ENOSPC" in err.value.detail
    monkeypatch.undo()
    assert store.get("k/1") == b"old"
    assert [p.name for p in (tmp_path / "data" / "k").iterdir()] == ["1"]


def test_local_crash_leftovers_are_invisible_and_swept(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "data")
    store.put("k/1", b"x")
    (tmp_path / "data" / "k" / ".tmp-abc123").write_bytes(b"half a photo")
    assert list(store.iter_keys()) == ["k/1"]
    assert store.remove_temp_files() == 1
    assert sorted(p.name for p in (tmp_path / "data" / "k").iterdir()) == ["1"]


def test_local_delete_prunes_empty_folders(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "data")
    store.put("photos/c1/k1", b"x")
    store.put("photos/c2/k1", b"x")
    store.delete("photos/c1/k1")
    assert not (tmp_path / "data" / "photos" / "c1").exists()
    assert (tmp_path / "data" / "photos" / "c2").is_dir()
    assert (tmp_path / "data").is_dir()


def test_local_key_colliding_with_a_folder_is_refused(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "data")
    store.put("a/b", b"x")
    with pytest.raises(InvalidBlobKey):
        store.put("a", b"y")
    with pytest.raises(InvalidBlobKey):
        store.put("a/b/c", b"y")
    with pytest.raises(BlobNotFound):
        store.get("a")
    with pytest.raises(BlobNotFound):
        store.size("a")
    assert store.get("a/b") == b"x"


# --- S3 specifics ----------------------------------------------------------------------------------


def test_s3_objects_are_real_objects_on_the_server(s3_endpoint: str) -> None:
    """Another client, talking HTTP to the same server, sees exactly what the store wrote."""
    bucket = f"check-{uuid.uuid4().hex[:12]}"
    writer, reader = _s3_client(s3_endpoint), _s3_client(s3_endpoint)
    writer.create_bucket(Bucket=bucket)
    S3BlobStore(bucket, writer).put("photos/c1/k", b"\x00sealed\xff")
    listed = reader.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("photos/c1/k", 8)]
    assert reader.get_object(Bucket=bucket, Key="photos/c1/k")["Body"].read() == b"\x00sealed\xff"


def test_s3_iter_keys_pages_past_one_listing(s3_endpoint: str) -> None:
    client = _s3_client(s3_endpoint)
    bucket = f"many-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    store = S3BlobStore(bucket, client, list_page_size=3)
    keys = [f"k/{i:02d}" for i in range(10)]
    for key in keys:
        store.put(key, b"")
    assert list(store.iter_keys("k/")) == keys


def test_s3_backend_failures_are_storage_errors(s3_endpoint: str) -> None:
    store = S3BlobStore(f"missing-{uuid.uuid4().hex[:12]}", _s3_client(s3_endpoint))
    with pytest.raises(StorageBackendError) as err:
        store.put("k", b"x")
    assert err.value.operation == "put" and err.value.detail == "NoSuchBucket"
