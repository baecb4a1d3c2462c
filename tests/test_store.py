import torch

from semsynth.store import SampleStore


def test_store_roundtrip_and_torn_manifest_line(tmp_path):
    store = SampleStore(tmp_path)
    image = torch.randint(0, 256, (3, 8, 6), dtype=torch.uint8)
    store.put([("a", 0, image), ("a", 1, image.flip(0))])
    assert store.finished() == {("a", 0), ("a", 1)}
    assert torch.equal(store.get("a", 0), image)
    # a kill in the middle of an append leaves a partial line without newline
    with open(store.manifest, "a") as file:
        file.write('{"id": "b", "se')
    assert store.finished() == {("a", 0), ("a", 1)}
    store.put([("b", 0, image)])
    assert store.finished() == {("a", 0), ("a", 1), ("b", 0)}
    assert all(line.startswith("{") and line.endswith("}") for line in store.manifest.read_text().splitlines())


def test_manifest_line_without_png_is_redone(tmp_path):
    store = SampleStore(tmp_path)
    store.put([("a", 0, torch.zeros(3, 4, 4, dtype=torch.uint8))])
    (store.samples / "a_s0.png").unlink()
    assert store.finished() == set()
