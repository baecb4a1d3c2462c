"""The official codes' label conventions per dataset, written down from their loaders, so that tests can check the
method presets and ``datasets.conventions.apply_convention`` against them (test data, not installed code)."""

from semsynth.datasets.conventions import LabelConvention

SDM: dict[str, LabelConvention] = {
    "ade20k": LabelConvention(ade_shift=True, instances="none"),
    "cityscapes": LabelConvention(clip_uint8=True),
    "cocostuff": LabelConvention(unknown_index=182, clip_uint8=True),
    "celebamask": LabelConvention(instances="classes"),
}
"""SDM (image_datasets.py): 151 / 35+edge / 183+edge / 19+edge label channels. The official code has no COCO-Stuff
or Cityscapes loader branch; those two entries follow its label mapping and SPADE's files (unverified upstream)."""

INADE: dict[str, LabelConvention] = {
    "ade20k": LabelConvention(instances="classes"),
    "cityscapes": LabelConvention(renumber=True),
    "celebamask": LabelConvention(instances="classes"),
}
"""INADE (make_instances.py + dataset options): ADE20K unshifted (151 channels, 0 = other), Cityscapes instanceIds
re-numbered, one instance per class where the dataset has none. INADE released no COCO-Stuff model; the method's
one rule for every dataset (``methods.inade.presets.CONVENTION``) must agree with each entry."""
