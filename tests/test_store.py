import json

import torch

from semsynth.store import SampleStore, sample_key


def test_store_roundtrip_and_torn_manifest_line(tmp_path):
    store = SampleStore(tmp_path)
    image = torch.randint(0, 256, (3, 8, 6), dtype=torch.uint8)
    store.put([(sample_key("a", 0), image), (sample_key("a", 1), image.flip(0))])
    assert store.finished() == {"a_s0", "a_s1"}
    assert torch.equal(store.get("a_s0"), image)
    # a kill in the middle of an append leaves a partial line without newline
    with open(store.manifest, "a") as file:
        file.write('{"key": "b_s0", "fi')
    assert store.finished() == {"a_s0", "a_s1"}
    store.put([(sample_key("b", 0), image)])
    assert store.finished() == {"a_s0", "a_s1", "b_s0"}
    assert all(line.startswith("{") and line.endswith("}") for line in store.manifest.read_text().splitlines())


def test_manifest_line_without_png_is_redone(tmp_path):
    store = SampleStore(tmp_path)
    store.put([("a_s0", torch.zeros(3, 4, 4, dtype=torch.uint8))])
    (store.samples / "a_s0.png").unlink()
    assert store.finished() == set()


def test_each_rank_appends_to_its_own_manifest_and_readers_merge_them_with_a_pre_rank_one(tmp_path):
    image = torch.zeros(3, 4, 4, dtype=torch.uint8)
    ranks = [SampleStore(tmp_path, rank=rank) for rank in (0, 1)]
    ranks[0].put([("a_s0", image)])
    ranks[1].put([("b_s0", image), ("b_rc1_b0_s1", image)])
    assert [store.manifest.name for store in ranks] == ["manifest.rank0.jsonl", "manifest.rank1.jsonl"]
    assert len(ranks[0].manifest.read_text().splitlines()) == 1
    # a run recorded before per-rank manifests: one manifest.jsonl with id/seed/file lines
    (store_dir := tmp_path / "samples").mkdir(exist_ok=True)
    (store_dir / "c_s7.png").write_bytes((store_dir / "a_s0.png").read_bytes())
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "c", "seed": 7, "file": "c_s7.png"}) + "\n")
    for store in ranks:
        assert store.finished() == {"a_s0", "b_s0", "b_rc1_b0_s1", "c_s7"}
