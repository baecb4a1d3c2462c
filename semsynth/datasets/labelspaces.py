"""Label spaces of the four real datasets: class names, palettes, thing classes and evaluation maps.

Facts from each dataset's documentation: ADE20K's SceneParsing objectInfo150 (names; palette of the CSAIL
``color150`` table as the segmentation toolkits ship it), the Cityscapes ``labels.py`` table (names, ids, trainIds,
colours, hasInstances), COCO-Stuff's ``labels.txt`` (182 ids of the ``stuffthingmaps`` PNGs) and CelebAMask-HQ's
``g_mask.py`` merge order with its face-parsing colour map. Each space keeps the raw encoding of the dataset's label
files; method-specific conventions live in ``conventions.py``.
"""

from __future__ import annotations

from ..types import LabelSpace


def _split(names: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in names.split("|"))


def _hex_palette(table: str) -> tuple[tuple[int, int, int], ...]:
    return tuple((int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)) for c in table.split())


def bit_palette(count: int) -> tuple[tuple[int, int, int], ...]:
    """The bit-interleaved colour map of pix2pixHD/SPADE (``labelcolormap``; the PASCAL VOC scheme): class i's bits
    0, 1, 2 go to the top bits of R, G, B, bits 3, 4, 5 to the next bits, and so on. Used where a dataset ships none."""
    colours = []
    for index in range(count):
        rgb = [0, 0, 0]
        value = index
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << shift
            value >>= 3
        colours.append((rgb[0], rgb[1], rgb[2]))
    return tuple(colours)


# ---------------------------------------------------------------------------------------------------------------
# ADE20K (SceneParsing150). Raw annotation PNGs hold 0..150: 0 = "other" (unlabelled), k = objectInfo150 row k.
ADE20K_NAMES = _split(
    "wall | building | sky | floor | tree | ceiling | road | bed | windowpane | grass | cabinet | sidewalk | person |"
    " earth | door | table | mountain | plant | curtain | chair | car | water | painting | sofa | shelf | house | sea |"
    " mirror | rug | field | armchair | seat | fence | desk | rock | wardrobe | lamp | bathtub | railing | cushion |"
    " base | box | column | signboard | chest of drawers | counter | sand | sink | skyscraper | fireplace |"
    " refrigerator | grandstand | path | stairs | runway | case | pool table | pillow | screen door | stairway |"
    " river | bridge | bookcase | blind | coffee table | toilet | flower | book | hill | bench | countertop | stove |"
    " palm | kitchen island | computer | swivel chair | boat | bar | arcade machine | hovel | bus | towel | light |"
    " truck | tower | chandelier | awning | streetlight | booth | television receiver | airplane | dirt track |"
    " apparel | pole | land | bannister | escalator | ottoman | bottle | buffet | poster | stage | van | ship |"
    " fountain | conveyer belt | canopy | washer | plaything | swimming pool | stool | barrel | basket | waterfall |"
    " tent | bag | minibike | cradle | oven | ball | food | step | tank | trade name | microwave | pot | animal |"
    " bicycle | lake | dishwasher | screen | blanket | sculpture | hood | sconce | vase | traffic light | tray |"
    " ashcan | fan | pier | crt screen | plate | monitor | bulletin board | shower | radiator | glass | clock | flag"
)
ADE20K_PALETTE = _hex_palette("""
787878 b47878 06e6e6 503232 04c803 787850 8c8c8c cc05ff e6e6e6 04fa07
e005ff ebff07 96053d 787846 08ff33 ff0652 8fff8c ccff04 ff3307 cc4603
0066c8 3de6fa ff0633 0b66ff ff0747 ff09e0 0907e6 dcdcdc ff095c 7009ff
08ffd6 07ffe0 ffb806 0aff47 ff290a 07ffff e0ff08 6608ff ff3d06 ffc207
ff7a08 00ff14 ff0829 ff0599 0633ff eb0cff a09614 00a3ff 8c8c8c fa0a0f
14ff00 1fff00 ff1f00 ffe000 99ff00 0000ff ff4700 00ebff 00adff 1f00ff
0bc8c8 ff5200 00fff5 003dff 00ff70 00ff85 ff0000 ffa300 ff6600 c2ff00
008fff 33ff00 0052ff 00ff29 00ffad 0a00ff adff00 00ff99 ff5c00 ff00ff
ff00f5 ff0066 ffad00 ff0014 ffb8b8 001fff 00ff3d 0047ff ff00cc 00ffc2
00ff52 000aff 0070ff 3300ff 00c2ff 007aff 00ffa3 ff9900 00ff0a ff7000
8fff00 5200ff a3ff00 ffeb00 08b8aa 8500ff 00ff5c b800ff ff001f 00b8ff
00d6ff ff0070 5cff00 00e0ff 70e0ff 46b8a0 a300ff 9900ff 47ff00 ff00a3
ffcc00 ff008f 00ffeb 85ff00 ff00eb f500ff ff007a fff500 0abed4 d6ff00
00ccff 1400ff ffff00 0099ff 0029ff 00ffcc 2900ff 29ff00 ad00ff 00f5ff
4700ff 7a00ff 00ffb8 005cff b8ff00 0085ff ffd600 19c2c2 66ff00 5c00ff
""")

ADE20K_LABELS = LabelSpace(
    name="ade20k",
    class_names=("other",) + ADE20K_NAMES,
    palette=((0, 0, 0),) + ADE20K_PALETTE,
    raw_note="annotation PNG values 0..150 kept as is: 0 = 'other' (unlabelled), k = objectInfo150 class k; "
             "SDM shifts to k-1 with other -> 150, INADE feeds them unshifted (see conventions.py)",
    eval_class_names=ADE20K_NAMES,
    eval_lut=(255,) + tuple(range(150)),
)

# ---------------------------------------------------------------------------------------------------------------
# Cityscapes: the 34 labelIds 0..33 of *_gtFine_labelIds.png, plus 'license plate' (official id -1, never written to
# the PNGs) as class 34, which makes the 35 classes SPADE, INADE and SDM use (label_nc 35).
# (name, trainId, colour, hasInstances)
_CITYSCAPES_TABLE = (
    ("unlabeled", 255, (0, 0, 0), False), ("ego vehicle", 255, (0, 0, 0), False),
    ("rectification border", 255, (0, 0, 0), False), ("out of roi", 255, (0, 0, 0), False),
    ("static", 255, (0, 0, 0), False), ("dynamic", 255, (111, 74, 0), False), ("ground", 255, (81, 0, 81), False),
    ("road", 0, (128, 64, 128), False), ("sidewalk", 1, (244, 35, 232), False),
    ("parking", 255, (250, 170, 160), False), ("rail track", 255, (230, 150, 140), False),
    ("building", 2, (70, 70, 70), False), ("wall", 3, (102, 102, 156), False), ("fence", 4, (190, 153, 153), False),
    ("guard rail", 255, (180, 165, 180), False), ("bridge", 255, (150, 100, 100), False),
    ("tunnel", 255, (150, 120, 90), False), ("pole", 5, (153, 153, 153), False),
    ("polegroup", 255, (153, 153, 153), False), ("traffic light", 6, (250, 170, 30), False),
    ("traffic sign", 7, (220, 220, 0), False), ("vegetation", 8, (107, 142, 35), False),
    ("terrain", 9, (152, 251, 152), False), ("sky", 10, (70, 130, 180), False), ("person", 11, (220, 20, 60), True),
    ("rider", 12, (255, 0, 0), True), ("car", 13, (0, 0, 142), True), ("truck", 14, (0, 0, 70), True),
    ("bus", 15, (0, 60, 100), True), ("caravan", 255, (0, 0, 90), True), ("trailer", 255, (0, 0, 110), True),
    ("train", 16, (0, 80, 100), True), ("motorcycle", 17, (0, 0, 230), True), ("bicycle", 18, (119, 11, 32), True),
    ("license plate", 255, (0, 0, 142), False),
)
CITYSCAPES_TRAIN_NAMES = tuple(name for name, train_id, _, _ in sorted(
    (row for row in _CITYSCAPES_TABLE if row[1] != 255), key=lambda row: row[1]))

CITYSCAPES_LABELS = LabelSpace(
    name="cityscapes",
    class_names=tuple(row[0] for row in _CITYSCAPES_TABLE),
    palette=tuple(row[2] for row in _CITYSCAPES_TABLE),
    things=tuple(index for index, row in enumerate(_CITYSCAPES_TABLE) if row[3]),
    raw_note="*_gtFine_labelIds.png values 0..33 kept as is (35 classes with 'license plate' = 34, never in files); "
             "instances from *_gtFine_instanceIds.png: labelId * 1000 + k for single things, the labelId elsewhere",
    eval_class_names=CITYSCAPES_TRAIN_NAMES,
    eval_lut=tuple(row[1] for row in _CITYSCAPES_TABLE),
)

# ---------------------------------------------------------------------------------------------------------------
# COCO-Stuff 164k: stuffthingmaps PNG value v is labels.txt id v + 1; 0..90 things (11 ids unused), 91..181 stuff,
# 255 unlabelled. The dataset ships no palette: the SPADE/pix2pixHD bit colour map is used.
COCOSTUFF_NAMES = _split(
    "person | bicycle | car | motorcycle | airplane | bus | train | truck | boat | traffic light | fire hydrant |"
    " street sign | stop sign | parking meter | bench | bird | cat | dog | horse | sheep | cow | elephant | bear |"
    " zebra | giraffe | hat | backpack | umbrella | shoe | eye glasses | handbag | tie | suitcase | frisbee | skis |"
    " snowboard | sports ball | kite | baseball bat | baseball glove | skateboard | surfboard | tennis racket |"
    " bottle | plate | wine glass | cup | fork | knife | spoon | bowl | banana | apple | sandwich | orange |"
    " broccoli | carrot | hot dog | pizza | donut | cake | chair | couch | potted plant | bed | mirror |"
    " dining table | window | desk | toilet | door | tv | laptop | mouse | remote | keyboard | cell phone |"
    " microwave | oven | toaster | sink | refrigerator | blender | book | clock | vase | scissors | teddy bear |"
    " hair drier | toothbrush | hair brush | banner | blanket | branch | bridge | building-other | bush | cabinet |"
    " cage | cardboard | carpet | ceiling-other | ceiling-tile | cloth | clothes | clouds | counter | cupboard |"
    " curtain | desk-stuff | dirt | door-stuff | fence | floor-marble | floor-other | floor-stone | floor-tile |"
    " floor-wood | flower | fog | food-other | fruit | furniture-other | grass | gravel | ground-other | hill |"
    " house | leaves | light | mat | metal | mirror-stuff | moss | mountain | mud | napkin | net | paper |"
    " pavement | pillow | plant-other | plastic | platform | playingfield | railing | railroad | river | road |"
    " rock | roof | rug | salad | sand | sea | shelf | sky-other | skyscraper | snow | solid-other | stairs |"
    " stone | straw | structural-other | table | tent | textile-other | towel | tree | vegetable | wall-brick |"
    " wall-concrete | wall-other | wall-panel | wall-stone | wall-tile | wall-wood | water-other | waterdrops |"
    " window-blind | window-other | wood"
)

COCOSTUFF_LABELS = LabelSpace(
    name="cocostuff",
    class_names=COCOSTUFF_NAMES,
    palette=bit_palette(len(COCOSTUFF_NAMES)),
    things=tuple(range(91)),
    raw_note="stuffthingmaps PNG values 0..181 kept as is (labels.txt id - 1), 255 = unlabelled (ignore); "
             "SDM maps 255 -> 182, SPADE adds a don't-care channel (see conventions.py)",
)

# ---------------------------------------------------------------------------------------------------------------
# CelebAMask-HQ: the merged masks of face_parsing/Data_preprocessing/g_mask.py (0 = background, then its label_list
# order); palette = the face-parsing colour map for 19 classes.
CELEBAMASK_NAMES = _split(
    "background | skin | nose | eye_g | l_eye | r_eye | l_brow | r_brow | l_ear | r_ear | mouth | u_lip | l_lip |"
    " hair | hat | ear_r | neck_l | neck | cloth"
)
CELEBAMASK_LABELS = LabelSpace(
    name="celebamask",
    class_names=CELEBAMASK_NAMES,
    palette=((0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204), (0, 255, 255),
             (51, 255, 255), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0), (0, 0, 153), (0, 0, 204),
             (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51), (0, 204, 0)),
    raw_note="merged label PNG values 0..18 in g_mask.py order kept as is; no instance maps "
             "(SDM uses the label map as instance map, INADE one instance per present class)",
)
