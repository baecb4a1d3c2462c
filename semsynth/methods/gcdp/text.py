"""Text encoders behind one interface (``encode(captions) -> (embeddings [B, N, D], mask [B, N])``): the official
T5-large encoder (the weights-catalog folder ``t5-large``; needs the ``gcdp-t5`` extra) and, for ``shapes``, a small
word-embedding encoder over the class names that the suite trains together with the joint model and ships in its file.
``layout_caption`` builds the ``shapes`` captions from the classes a layout contains."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol, Sequence

import torch
from torch import nn

from ...errors import UserError

CAPTION_WORDS = ("a", "scene", "with", "and")


class TextEncoder(Protocol):
    dim: int

    def encode(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token embeddings ``[B, N, dim]`` (float32) and the bool mask of real tokens ``[B, N]``."""


def layout_caption(labels: torch.Tensor, class_names: Sequence[str]) -> str:
    """'a scene with sky, grass and disc': the classes present in ``labels`` in class order."""
    present = [class_names[int(c)] for c in torch.unique(labels) if 0 <= int(c) < len(class_names)]
    if not present:
        return "a scene"
    listed = present[0] if len(present) == 1 else ", ".join(present[:-1]) + " and " + present[-1]
    return f"a scene with {listed}"


def words(caption: str) -> list[str]:
    return re.findall(r"[a-z]+", caption.lower())


class WordEncoder(nn.Module):
    """Learned word + position embeddings over a closed vocabulary (the caption words and the class names);
    trained with the joint model (its loss reaches the embeddings). Unknown words are a ``UserError``."""

    def __init__(self, vocabulary: Sequence[str], dim: int, max_len: int = 16) -> None:
        super().__init__()
        self.vocabulary = list(dict.fromkeys(vocabulary))
        self.index = {word: i for i, word in enumerate(self.vocabulary)}
        self.dim, self.max_len = dim, max_len
        self.words = nn.Embedding(len(self.vocabulary), dim)
        self.positions = nn.Embedding(max_len, dim)
        nn.init.normal_(self.words.weight, std=1.0)
        nn.init.normal_(self.positions.weight, std=0.1)

    @classmethod
    def for_classes(cls, class_names: Sequence[str], dim: int, max_len: int = 16) -> "WordEncoder":
        vocabulary = list(CAPTION_WORDS) + [word for name in class_names for word in words(name)]
        return cls(vocabulary, dim, max_len)

    def tokens(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Word indices ``[B, N]`` (0-padded) and the mask of real tokens."""
        rows = []
        for caption in captions:
            unknown = [word for word in words(caption) if word not in self.index]
            if unknown:
                raise UserError(f"unknown word(s) {', '.join(unknown)} in prompt {caption!r}; this text encoder knows "
                                f"only: {', '.join(self.vocabulary)}")
            rows.append([self.index[word] for word in words(caption)][:self.max_len] or [self.index["a"]])
        length = max(len(row) for row in rows)
        ids = torch.tensor([row + [0] * (length - len(row)) for row in rows])
        mask = torch.tensor([[True] * len(row) + [False] * (length - len(row)) for row in rows])
        return ids, mask

    def encode(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self.tokens(captions)
        ids, mask = ids.to(self.words.weight.device), mask.to(self.words.weight.device)
        return self.words(ids) + self.positions(torch.arange(ids.shape[1], device=ids.device)), mask


# Facts of the official text path (GCDP = lucidrains/imagen-pytorch 1.11.14 + its joint model; shared/research/
# sdm_piti_gcdp.md section 3 and the files named here):
# - GCDP train.py builds JointImagen(text_encoder_name='t5-large'); joint_imagen.py encodes with
#   imagen_pytorch/t5.py `t5_encode_text(texts, name, return_attn_mask=True)` inside `autocast(enabled=False)`
#   (float32), from `transformers` 4.31.0 (GCDP environment.yaml).
# - imagen_pytorch/t5.py (lucidrains/imagen-pytorch, the version with `return_attn_mask`, the signature GCDP calls;
#   GCDP's repository does not change it): `T5Tokenizer` + `T5EncoderModel.from_pretrained(name)`;
#   `batch_encode_plus(texts, padding='longest', max_length=MAX_LENGTH=256, truncation=True)`; the encoder's
#   `last_hidden_state` under the attention mask; padded positions zeroed (`masked_fill(~mask, 0.)`; GCDP's
#   joint_imagen.py rebuilds a missing mask as `any(text_embeds != 0)`, which relies on it); the width is the config's
#   d_model (get_encoded_dim; 1024 for 't5-large' in t5.py's table). The UNet then crops/pads the tokens to its own
#   max_text_len (256 in the official nets; model.py).
# - T5Tokenizer at transformers 4.31 is the SentencePiece tokenizer (legacy mode): the ids of a plain caption are
#   `SentencePieceProcessor(spiece.model).encode(text)` followed by '</s>'; truncation keeps max_length - 1 pieces
#   and then the '</s>' (transformers tokenization_t5.py / tokenization_utils_base.py). transformers 5 gives the name
#   T5Tokenizer to a `tokenizers` re-implementation, so the pieces here come from sentencepiece on the folder's
#   spiece.model itself: the official ids under every transformers version. (Only literal special-token text such
#   as '</s>' inside a caption would be split differently.)
MAX_LENGTH = 256
T5_EXTRA = "pip install 'semsynth-bench[gcdp-t5]' (transformers and sentencepiece)"


class T5Encoder:
    """The official text encoder: a T5 encoder (``t5-large``: 1024-d) read from a local Hugging Face folder with
    ``config.json``, the weights and ``spiece.model`` (weights entry ``t5-large``); float32 last hidden states,
    padded positions zero and masked. Needs ``transformers`` and ``sentencepiece`` (extra ``gcdp-t5``)."""

    def __init__(self, folder: str | Path, max_len: int = MAX_LENGTH, device: str | torch.device = "cpu") -> None:
        try:
            import sentencepiece
            from transformers import T5EncoderModel
        except ImportError:
            raise UserError(f"GCDP's T5 text encoder needs the transformers and sentencepiece packages: {T5_EXTRA}") \
                from None
        folder = Path(folder)
        if not (folder / "spiece.model").is_file():
            raise UserError(f"{folder} has no spiece.model; a T5 folder holds config.json, the weights and "
                            f"spiece.model (see `bench weights path t5-large`)")
        try:
            model = T5EncoderModel.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as error:
            raise UserError(f"cannot load a T5 encoder from {folder}: {str(error).splitlines()[0]}") from None
        self.pieces = sentencepiece.SentencePieceProcessor(model_file=str(folder / "spiece.model"))
        self.pad_id, self.eos_id = self.pieces.piece_to_id("<pad>"), self.pieces.piece_to_id("</s>")
        self.model = model.to(device=device, dtype=torch.float32).eval().requires_grad_(False)
        self.dim, self.max_len, self.device = int(model.config.d_model), max_len, torch.device(device)

    def tokens(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``[B, N]`` (pieces then '</s>', at most ``max_len``; padded to the longest) and the mask of real
        tokens, as the official tokenizer call."""
        if not all(captions):
            raise UserError("empty GCDP prompt (the official sampler refuses them); give no prompt for the null text")
        rows = [ids[:self.max_len - 1] + [self.eos_id] for ids in self.pieces.encode(list(captions))]
        length = max(len(row) for row in rows)
        ids = torch.tensor([row + [self.pad_id] * (length - len(row)) for row in rows])
        mask = torch.tensor([[True] * len(row) + [False] * (length - len(row)) for row in rows])
        return ids, mask

    @torch.no_grad()
    def encode(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = (value.to(self.device) for value in self.tokens(captions))
        with torch.autocast(self.device.type, enabled=False):
            hidden = self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state.float()
        return hidden.masked_fill(~mask[..., None], 0.0), mask
