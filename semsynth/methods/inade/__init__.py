"""INADE: diverse semantic image synthesis with instance-adaptive denormalisation (Tan et al., CVPR 2021)."""

from .method import INADE

__all__ = ["INADE"]
