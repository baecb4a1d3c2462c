"""PITI: pretraining is all you need for image-to-image translation (Wang et al. 2022): mask encoder, GLIDE-style
decoder and upsampler, normalised guidance, two-stage finetuning."""

from .method import PITI

__all__ = ["PITI"]
