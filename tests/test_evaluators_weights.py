"""The weights catalog's fetch (served from a local HTTP server: the only network here) and listing rows."""

import functools
import hashlib
import http.server
import threading

import pytest

from semsynth import weights
from semsynth.errors import UserError


@pytest.fixture()
def server(tmp_path):
    (tmp_path / "served").mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield tmp_path / "served", f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _entry(monkeypatch, url: str, sha256: str | None) -> weights.WeightSpec:
    spec = weights.WeightSpec(name="test-blob", file="blob.bin", url=url, sha256=sha256, users=("tests",))
    monkeypatch.setitem(weights.CATALOG, spec.name, spec)
    return spec


def test_fetch_checks_sha256_and_renames_into_place(server, tmp_path, monkeypatch):
    served, base = server
    (served / "blob.bin").write_bytes(b"weights" * 1000)
    digest = hashlib.sha256(b"weights" * 1000).hexdigest()
    _entry(monkeypatch, f"{base}/blob.bin", digest)
    target = weights.fetch("test-blob", dest=tmp_path / "store", progress=False)
    assert target == tmp_path / "store" / "blob.bin" and weights.sha256(target) == digest
    assert weights.verify("test-blob", target) == "ok"
    _entry(monkeypatch, f"{base}/blob.bin", "0" * 64)
    with pytest.raises(UserError, match="expected 0000"):
        weights.fetch("test-blob", dest=tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()                     # nothing half-written is left behind, nor the folder


def test_fetch_without_network_fails_cleanly(server, tmp_path, monkeypatch):
    _, base = server
    _entry(monkeypatch, f"{base}/absent.bin", None)
    with pytest.raises(UserError, match="could not download weights 'test-blob'.*by hand"):
        weights.fetch("test-blob", dest=tmp_path / "store", progress=False)
    assert not (tmp_path / "store").exists()


def test_rows_list_the_evaluator_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSYNTH_WEIGHTS", str(tmp_path))
    (tmp_path / "alexnet-owt-7be5be79.pth").write_bytes(b"x")
    rows = {row["name"]: row for row in weights.rows()}
    for name in ("inception-torchscript", "inception-pytorch-fid", "swav-r50-800ep", "alexnet-torchvision",
                 "lpips-alex-v0.1", "clip-vit-b32"):
        assert rows[name]["url"].startswith("https://")
    assert rows["alexnet-torchvision"]["status"] == "present"
    assert rows["alexnet-torchvision"]["path"] == str(tmp_path / "alexnet-owt-7be5be79.pth")
    assert rows["swav-r50-800ep"]["status"] == "missing"
    assert rows["clip-vit-b32"]["sha256"].startswith("40d36571")


def test_weights_shipped_inside_another_wheel_are_found_and_verified(monkeypatch, tmp_path):
    from semsynth import weights

    monkeypatch.setenv("SEMSYNTH_WEIGHTS", str(tmp_path))
    found = weights.find("lpips-alex-v0.1")
    assert found is not None and found.parts[-4:] == ("lpips", "weights", "v0.1", "alex.pth")
    assert weights.verify("lpips-alex-v0.1") == "ok"
