"""Feature backbones: networks that turn images into features (FID, KID) or pair distances (LPIPS-style), used by
metrics and methods alike; importing this package registers the built-in ones by name (``load_features``)."""

from .._discover import import_submodules as _import_submodules

_import_submodules(__name__, __path__)
