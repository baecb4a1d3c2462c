"""GCDP's official T5 text path on a tiny T5 folder laid out like a real ``t5-large`` one (config.json and
model.safetensors of a T5ForConditionalGeneration via ``save_pretrained``, a ``spiece.model`` trained here): found
through the weights catalog, the official tokenization (SentencePiece pieces + '</s>', truncation, longest padding),
float32 embeddings equal to a direct transformers call with the padding zeroed and masked, prompts through GCDP, and
the one-line errors (missing packages, missing folder, text width mismatch)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import torch

from semsynth import weights
from semsynth.datasets.shapes import Shapes
from semsynth.errors import MissingWeightsError, UserError
from semsynth.methods.gcdp.method import GCDP
from semsynth.methods.gcdp.model import JointUNet
from semsynth.methods.gcdp.text import MAX_LENGTH, T5Encoder
from semsynth.methods.gcdp.train import JointModel
from tests.test_gcdp_method import FAST, TINY, tiny_model

SENTENCES = ("a scene with sky, grass and disc", "a street with cars, people and tall buildings",
             "the sky above the road is blue", "trees and a sidewalk next to a wall", "a red car under a bridge")
WIDTH = TINY["text_embed_dim"]   # the tiny T5's d_model: the tiny GCDP network's text width


@pytest.fixture(scope="module")
def t5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<weights>/t5-large``: a 2-layer T5 (d_model 8) with random weights and a 40-odd-piece unigram spiece.model
    with T5's special ids (<pad> 0, </s> 1, <unk> 2)."""
    spm = pytest.importorskip("sentencepiece")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("weights") / "t5-large"
    folder.mkdir()
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SENTENCES * 4), model_writer=model, vocab_size=64,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   hard_vocab_limit=False, minloglevel=2)
    (folder / "spiece.model").write_bytes(model.getvalue())
    torch.manual_seed(0)
    config = transformers.T5Config(vocab_size=128, d_model=WIDTH, d_kv=4, d_ff=16, num_layers=2,
                                   num_decoder_layers=1, num_heads=2, relative_attention_num_buckets=8,
                                   relative_attention_max_distance=16)
    transformers.T5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def _pieces(folder: Path):
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(folder / "spiece.model"))


def test_the_catalog_folder_gives_a_direct_transformers_calls_embeddings(t5_folder: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import T5EncoderModel

    monkeypatch.setenv("SEMSYNTH_WEIGHTS", str(t5_folder.parent))
    assert weights.path("t5-large") == t5_folder and weights.verify("t5-large") == "unverified"
    encoder = T5Encoder(weights.path("t5-large"))
    assert encoder.dim == WIDTH and encoder.max_len == MAX_LENGTH == 256
    captions = ["a scene with sky", "trees and a sidewalk next to a red car under a bridge"]
    embeds, mask = encoder.encode(captions)
    pieces = _pieces(t5_folder)
    expected = [pieces.encode(caption) + [pieces.piece_to_id("</s>")] for caption in captions]
    assert embeds.dtype == torch.float32 and tuple(embeds.shape) == (2, len(expected[1]), WIDTH)
    assert len(expected[0]) < len(expected[1])      # the first caption is padded
    direct = T5EncoderModel.from_pretrained(t5_folder, local_files_only=True).eval()
    for row, ids in enumerate(expected):
        n = len(ids)
        assert mask[row].tolist() == [True] * n + [False] * (embeds.shape[1] - n)
        assert encoder.tokens(captions)[0][row].tolist() == ids + [0] * (embeds.shape[1] - n)
        with torch.no_grad():   # one caption alone, unpadded: the padding of the batch must not reach it
            alone = direct(input_ids=torch.tensor([ids])).last_hidden_state[0]
        torch.testing.assert_close(embeds[row, :n], alone, rtol=1e-5, atol=1e-6)
        assert alone.abs().min() > 0 and torch.all(embeds[row, n:] == 0)


def test_truncation_keeps_max_len_minus_one_pieces_and_the_end_token(t5_folder: Path) -> None:
    encoder = T5Encoder(t5_folder, max_len=5)
    pieces, long = _pieces(t5_folder), SENTENCES[1]
    assert len(pieces.encode(long)) > 5
    ids, mask = encoder.tokens([long, "sky"])
    assert ids[0].tolist() == pieces.encode(long)[:4] + [1]
    assert ids[1].tolist() == pieces.encode("sky") + [1] + [0] * (4 - len(pieces.encode("sky")))
    assert mask[0].all() and mask[1].sum() == len(pieces.encode("sky")) + 1
    embeds, _ = encoder.encode([long])
    assert tuple(embeds.shape) == (1, 5, WIDTH)
    with pytest.raises(UserError, match="empty GCDP prompt"):
        encoder.encode(["sky", ""])


def test_gcdp_prompts_go_through_t5_and_a_width_mismatch_is_one_line(t5_folder: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMSYNTH_WEIGHTS", str(t5_folder.parent))
    method = GCDP.from_model(JointModel(tiny_model().net), "shapes", caption=False, **FAST)   # no caption encoder
    layout = Shapes(split="val").layout(0)
    plain = method.generate(layout, seed=0)
    prompted = method.generate(layout, seed=0, prompt="a red car under a bridge")
    assert isinstance(method.text_encoder(), T5Encoder)
    assert prompted.shape == (3, 64, 64) and not torch.equal(prompted, plain)
    assert torch.equal(method.generate(layout, seed=0, prompt="a red car under a bridge"), prompted)

    torch.manual_seed(0)
    wider = JointModel(JointUNet(**{**TINY, "text_embed_dim": 12}))
    other = GCDP.from_model(wider, "shapes", t5_folder=t5_folder, caption=False, **FAST)
    assert other.generate(layout, seed=0).shape == (3, 64, 64)      # no prompt: the null text, no T5 needed
    with pytest.raises(UserError, match=f"gives {WIDTH}-d embeddings but this GCDP network takes 12-d") as error:
        other.generate(layout, seed=0, prompt="a red car")
    assert "\n" not in str(error.value)


def test_without_transformers_the_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import transformers  # noqa: F401
        monkeypatch.setitem(sys.modules, "transformers", None)   # installed: make its import fail as if absent
    except ImportError:
        pass
    with pytest.raises(UserError, match=r"needs the transformers and sentencepiece packages: pip install") as error:
        T5Encoder("t5-large")
    assert "gcdp-t5" in str(error.value) and "\n" not in str(error.value)


def test_a_missing_or_wrong_t5_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMSYNTH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("SEMSYNTH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(MissingWeightsError, match="folder t5-large not found .*hf download google-t5/t5-large") \
            as error:
        weights.path("t5-large")
    assert "\n" not in str(error.value)
    (tmp_path / "t5-large").write_text("not a folder")
    with pytest.raises(MissingWeightsError):
        weights.path("t5-large")
    with pytest.raises(UserError, match="is not a folder"):
        weights.path("t5-large", tmp_path / "t5-large")
    with pytest.raises(UserError, match="cannot fetch"):
        weights.fetch("t5-large", tmp_path)
    pytest.importorskip("transformers")
    pytest.importorskip("sentencepiece")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="has no spiece.model"):
        T5Encoder(tmp_path / "empty")
