import pytest
import torch

from semsynth.errors import LayoutError, UserError
from semsynth.types import LabelSpace, Layout, instance_edges, label_one_hot

SPACE = LabelSpace("toy", ("a", "b", "c"), ((1, 2, 3), (4, 5, 6), (7, 8, 9)))


def test_layout_rejects_bad_maps_with_readable_messages():
    with pytest.raises(LayoutError, match="int64"):
        Layout(torch.zeros(4, 4, dtype=torch.int32), SPACE)
    with pytest.raises(LayoutError, match=r"\[H, W\]"):
        Layout(torch.zeros(1, 4, 4, dtype=torch.long), SPACE)
    with pytest.raises(LayoutError, match="label 3 is outside"):
        Layout(torch.full((4, 4), 3), SPACE)
    with pytest.raises(LayoutError, match="differs from label map"):
        Layout(torch.zeros(4, 4, dtype=torch.long), SPACE, torch.zeros(4, 5, dtype=torch.long))
    Layout(torch.full((4, 4), 255), SPACE)  # the ignore index is allowed


def test_edges_are_the_four_neighbour_boundaries():
    instances = torch.tensor([[1, 1, 2],
                              [1, 1, 2],
                              [3, 3, 3]])
    expected = torch.tensor([[0, 1, 1],
                             [1, 1, 1],
                             [1, 1, 1]], dtype=torch.float32)
    assert torch.equal(instance_edges(instances), expected)
    layout = Layout(torch.zeros(3, 3, dtype=torch.long), SPACE, instances)
    assert torch.equal(layout.edges(), expected)
    assert Layout(torch.zeros(3, 3, dtype=torch.long), SPACE).edges().sum() == 0


def test_edges_match_a_per_pixel_reference():
    instances = torch.randint(0, 3, (9, 7), generator=torch.Generator().manual_seed(1))
    edges = instance_edges(instances)
    for y in range(9):
        for x in range(7):
            neighbours = [(y + dy, x + dx) for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))
                          if 0 <= y + dy < 9 and 0 <= x + dx < 7]
            differs = any(instances[n] != instances[y, x] for n in neighbours)
            assert edges[y, x] == float(differs)


def test_one_hot_and_colorize_skip_ignored_pixels():
    labels = torch.tensor([[0, 2], [255, 1]])
    layout = Layout(labels, SPACE)
    onehot = layout.one_hot()
    assert onehot.shape == (3, 2, 2)
    assert onehot[:, 1, 0].sum() == 0 and onehot[2, 0, 1] == 1
    rgb = SPACE.colorize(labels)
    assert rgb.dtype == torch.uint8 and rgb[:, 0, 1].tolist() == [7, 8, 9] and rgb[:, 1, 0].tolist() == [0, 0, 0]


def test_label_one_hot_is_batched_over_leading_dims():
    labels = torch.tensor([[[0, 2], [255, 1]], [[1, 1], [2, 255]]])
    batched = label_one_hot(labels, 4)
    assert batched.shape == (2, 4, 2, 2) and batched[:, 3].sum() == 0
    assert torch.equal(batched, torch.stack([Layout(row, SPACE).one_hot(4) for row in labels]))


def test_eval_lut_maps_into_the_evaluation_space():
    space = LabelSpace("x", ("other", "b", "c"), ((0, 0, 0),) * 3, eval_class_names=("b", "c"), eval_lut=(255, 0, 1))
    assert space.to_eval(torch.tensor([0, 1, 2, 255])).tolist() == [255, 0, 1, 255]
    assert space.num_eval_classes == 2


def test_region_mask_selects_a_class_or_an_instance():
    labels = torch.tensor([[0, 0, 1], [2, 2, 1]])
    instances = torch.tensor([[5, 6, 7], [8, 8, 7]])
    layout = Layout(labels, SPACE, instances)
    assert torch.equal(layout.region_mask({"class": 2}), labels == 2)
    assert torch.equal(layout.region_mask({"instance": 6}), torch.tensor([[False, True, False], [False] * 3]))
    with pytest.raises(LayoutError, match="absent"):
        layout.region_mask({"instance": 9})
    with pytest.raises(UserError, match="region must be"):
        layout.region_mask({"class": 1, "instance": 7})
    with pytest.raises(UserError, match="instance map"):
        Layout(labels, SPACE).region_mask({"instance": 5})
