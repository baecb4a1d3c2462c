"""Text encoders behind one interface (``encode(captions) -> (embeddings [B, N, D], mask [B, N])``): the official
T5-large encoder (a weights-catalog entry; needs ``transformers``) and, for ``shapes``, a small word-embedding
encoder over the class names that the suite trains together with the joint model and ships in its file.
``layout_caption`` builds the ``shapes`` captions from the classes a layout contains."""

from __future__ import annotations

import re
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


class T5Encoder:
    """The official text encoder: T5 (``t5-large``, 1024-d) last hidden states with the attention mask, from a
    local Hugging Face folder (weights entry ``t5-large``); needs the ``transformers`` package."""

    dim = 1024

    def __init__(self, folder: str, max_len: int = 256, device: str | torch.device = "cpu") -> None:
        try:
            from transformers import T5EncoderModel, T5Tokenizer
        except ImportError:
            raise UserError("GCDP's T5 text encoder needs the 'transformers' package (pip install transformers)") \
                from None
        self.tokenizer = T5Tokenizer.from_pretrained(folder, local_files_only=True)
        self.model = T5EncoderModel.from_pretrained(folder, local_files_only=True).to(device).eval()
        self.max_len, self.device = max_len, device

    @torch.no_grad()
    def encode(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self.tokenizer(list(captions), return_tensors="pt", padding="longest", max_length=self.max_len,
                               truncation=True)
        ids, mask = batch.input_ids.to(self.device), batch.attention_mask.to(self.device).bool()
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        return hidden.masked_fill(~mask[..., None], 0.0), mask
