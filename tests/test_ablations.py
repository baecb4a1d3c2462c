"""The PITI and DP-SIMS ablations of the shapes track: PITI's finite training sets, the catalog entries of the
ablation networks (not shipped, each with the commands that make it), the plans that bind every printed row to
them, ``bench reproduce --dry-run`` and the guidance sweep of PITI's Figure 6."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from semsynth import cli, weights
from semsynth.datasets.shapes import Shapes
from semsynth.errors import UserError
from semsynth.reporting import plan as plans
from semsynth.reporting import published
from semsynth.training import TrainConfig, Trainer

TRACK = plans.load_track("shapes")
TABLES = ("piti-table3a", "piti-table3b", "piti-table4", "piti-figure6", "dpsims-table-s6", "dpsims-table-s8",
          "dpsims-table-s9")


@pytest.fixture
def no_local_weights(tmp_path, monkeypatch):
    """A weights search path without any locally trained file (the shipped assets stay)."""
    monkeypatch.delenv("SEMSYNTH_WEIGHTS", raising=False)
    monkeypatch.setenv("SEMSYNTH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "weights"


def test_training_subset_is_the_first_layouts_and_bounds_what_the_trainer_draws(tmp_path) -> None:
    from semsynth.methods.piti.train import training_subset

    data = Shapes(split="train")
    subset = training_subset(data, examples=8, fraction=0.5)
    first = [data[i].id for i in range(4)]
    assert [subset[i].id for i in range(len(subset))] == first
    assert len(training_subset(data, examples=8)) == 8 and training_subset(data) is data
    with pytest.raises(UserError, match="exceeds"):
        training_subset(Shapes(split="val"), examples=10**8)
    seen: list[str] = []
    net = torch.nn.Linear(1, 1)

    def step(examples, _step, trainer):
        seen.extend(example.id for example in examples)
        return {}

    trainer = Trainer({"G": net}, {"G": torch.optim.SGD(net.parameters(), lr=0.1)},
                      TrainConfig(out_dir=tmp_path, steps=6, batch_size=3, quiet=True, ema_decay=None))
    trainer.fit(step, subset)
    assert len(seen) == 18 and set(seen) <= set(first) and len(set(seen)) > 1


def test_piti_training_records_its_finite_training_set(tmp_path) -> None:
    from semsynth.methods.piti.train import train

    train("shapes", tmp_path, stage="2", steps=1, batch_size=2, quiet=True, train_examples=4, data_fraction=0.5)
    record = json.loads((tmp_path / "train_options.json").read_text())
    assert (record["train_examples"], record["data_fraction"], record["train_set_size"]) == (4, 0.5, 2)


def test_the_piti_preset_names_the_size_the_recipes_train_on() -> None:
    from semsynth.catalog import piti as catalog
    from semsynth.methods.piti.presets import SHAPES_TRAIN_EXAMPLES

    for name, (_, commands) in catalog.ABLATION_RECIPES.items():
        trains = [command for command in commands if command.startswith("bench train")]
        if name != "piti-shapes-upsample-plain":   # the upsampler ablation keeps the shipped one's stream
            assert all(f"train_examples={SHAPES_TRAIN_EXAMPLES}" in command for command in trains), name
            # a constant rate: the stage-2 recipe's 14000 decayed steps would start an 800-step run near zero
            assert all("lr_decay_steps=0" in command for command in trains), name


def _expected_row(table: str, cell: dict) -> dict | None:
    """The ROW the shapes track file binds to a published cell (the planner's rule, read from the file)."""
    entry = TRACK["tables"][table]
    spec = entry.get("cells", {}).get(cell["method"], {}).get(cell["metric"])
    spec = spec or {**TRACK["methods"], **entry.get("rows", {})}.get(cell["method"])
    return None if spec is None else ({"method": spec} if isinstance(spec, str) else spec)


@pytest.mark.parametrize("table", TABLES)
def test_plans_bind_each_printed_row_to_its_network_and_settings(table: str) -> None:
    entry = TRACK["tables"][table]
    printed = {(cell["method"], cell["metric"]) for cell in published.table(table)}
    assert set(entry.get("rows", {})) <= {method for method, _ in printed}
    assert {(row, metric) for row, metrics in entry.get("cells", {}).items() for metric in metrics} <= printed
    assert entry.get("note"), "every ablation table says what its rows stand for on shapes"
    plan = plans.build(table, "shapes")
    for cell, data in zip(plan.cells, published.table(table)):
        row = _expected_row(table, data)
        if row is None:
            assert cell.run is None and cell.reason == f"{cell.method} is not in the suite", cell
            continue
        if cell.metric not in TRACK["metrics"]:     # S8's ImageNet accuracy of the backbone
            assert cell.run is None and cell.reason == f"metric '{cell.metric}' is not measured by the suite"
            continue
        assert cell.run is not None, cell
        settings = tuple(sorted((key, json.dumps(value)) for key, value in row.get("settings", {}).items()))
        assert (cell.run.method, cell.run.weights, cell.run.settings) == (row["method"], row.get("weights"),
                                                                           settings), cell


def test_the_bindings_mean_what_the_papers_ablate() -> None:
    def run_of(table: str, row: str, metric: str | None = None):
        return next(c.run for c in plans.build(table, "shapes").cells
                    if c.method == row and (metric is None or c.metric == metric))

    share = "FID-C, 25% of the training set"
    assert run_of("piti-table4", "Ours", share).weights == "piti-shapes-finetune-25"
    assert run_of("piti-table4", "Ours (From Scratch)", share).weights == "piti-shapes-scratch-25"
    assert run_of("piti-table3a", "Two-stage finetune").weights == run_of(
        "piti-table4", "Ours", "FID-C, 100% of the training set").weights
    plain = run_of("piti-table3b", "degradation=no, perceptual loss=no, adversarial loss=no")
    assert plain.weight_names() == ("piti-shapes-upsample-plain",)
    assert run_of("dpsims-table-s6", "backbone=Fixed, initialization=Random").weights == "dpsims-shapes-random-backbone"
    assert run_of("dpsims-table-s6", "backbone=Fixed, initialization=IN-21k pre-trained"
                  ).weights == "dpsims-shapes-reference"    # the same 2000-step recipe, not the longer shipped one
    assert run_of("dpsims-table-s9", "lambda_div=0").weights == "dpsims-shapes-div0"
    sweep = {c.method: dict(c.run.settings) for c in plans.build("piti-figure6", "shapes").cells}
    assert sweep["NCF, w=3"] == {"guidance": "3.0", "guidance_mode": '"normalized"', "guidance_t_max": "1000.0"}
    assert sweep["CF, w=3"] == {"guidance": "3.0", "guidance_mode": '"official"', "guidance_t_max": "1000.0"}


def test_ablation_networks_are_local_files_each_with_the_commands_that_make_it() -> None:
    from semsynth.catalog import dpsims, piti

    recipes = {**piti.ABLATION_RECIPES, **dpsims.ABLATION_RECIPES}
    bound = {name for table in TABLES for c in plans.build(table, "shapes").cells if c.run
             for name in c.run.weight_names()}
    assert bound <= set(recipes), bound - set(recipes)
    for name, (_, commands) in recipes.items():
        entry = weights.spec(name)
        assert not entry.shipped and entry.sha256 is None and name.startswith(("piti-shapes-", "dpsims-shapes-"))
        assert commands[-1].endswith(f"~/.cache/semsynth/weights/{entry.file}"), name   # installed where found
        assert all(command in entry.url for command in commands), name


@pytest.mark.parametrize("table", TABLES)
def test_dry_run_lists_the_runs_and_the_missing_weights_with_their_commands(table, capsys, no_local_weights):
    assert cli.main(["reproduce", table, "--track", "shapes", "--dry-run"]) == 0
    out = capsys.readouterr().out
    plan = plans.build(table, "shapes")
    assert out.count("\n  bench run --method ") == len(plan.runs) and f"{len(plan.runs)} runs" in out
    for name in {name for spec in plan.runs for name in spec.weight_names()}:
        assert f"weights {name}: MISSING {weights.spec(name).file}: (not shipped: make it with `" in out, name
    assert not any(no_local_weights.parent.parent.rglob("run.json"))


def test_dry_run_sees_a_trained_file_put_where_the_catalog_looks(capsys, no_local_weights) -> None:
    no_local_weights.mkdir(parents=True)
    (no_local_weights / "piti_shapes_onestage.safetensors").write_bytes(b"stand-in")
    assert cli.main(["reproduce", "piti-table3a", "--track", "shapes", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"weights piti-shapes-onestage: present ({no_local_weights / 'piti_shapes_onestage.safetensors'})" in out
    assert "weights piti-shapes-fixed-decoder: MISSING" in out


def test_figure6_report_plots_each_metric_against_guidance_per_mode(tmp_path) -> None:
    """The report of a table without printed values: no published-vs-reproduced scatter, a sweep plot instead. The
    run records are written as the runner writes them (the fields the report reads), FID = w to check the axes."""
    from PIL import Image

    from semsynth.reporting.reproduce import Options, _sweep_points, plan_of, write_report

    options = Options(track="shapes", reports_dir=str(tmp_path))
    plan = plan_of("piti-figure6", options)
    assert plan.sweep == {"x": "guidance", "series": "guidance_mode"} and not any(c.published for c in plan.cells)
    outcomes = {}
    for number, spec in enumerate(plan.runs):
        settings = {key: json.loads(value) for key, value in spec.settings}
        record = {"method": spec.method, "n_layouts": 8, "samples_per_layout": 1, "settings": settings,
                  "metrics": {"fid": {"value": settings.get("guidance", 0.5)}, "miou": {"value": 90.0}}}
        (tmp_path / f"{number}.json").write_text(json.dumps(record))
        outcomes[spec] = {"status": "done", "record": str(tmp_path / f"{number}.json")}
    points = _sweep_points(plan, {spec: json.loads(Path(o["record"]).read_text()) for spec, o in outcomes.items()})
    assert len(points) == len(plan.cells) == 24 and all(p["value"] == p["x"] for p in points if p["metric"] == "FID")
    assert {(p["series"], p["x"]) for p in points if p["metric"] == "FID"} == {
        (mode, w) for mode in ("official", "normalized") for w in (1.0, 1.5, 2.0, 3.0, 5.0, 8.0)}
    text = write_report(plan, outcomes, options).read_text()
    assert "![piti-figure6.shapes-sweep](piti-figure6.shapes-sweep.png)" in text and "published vs" not in text
    assert Image.open(tmp_path / "piti-figure6.shapes-sweep.png").size[0] > 600


def test_report_quality_plots_label_points_by_the_rows_they_reproduce(tmp_path, monkeypatch) -> None:
    """Two runs of one method: a report names them by its rows, not by their differing settings or hashes."""
    from semsynth.reporting.plots import quality

    records = [json.loads((Path(__file__).parents[1] / "leaderboards" / "records" / "shapes" / f"{name}.json")
                          .read_text()) for name in ("dpsims", "sdm")]
    records[1] = {**records[1], "method": "dpsims"}
    seen = []
    real_scatter = quality._scatter
    monkeypatch.setattr(quality, "_scatter", lambda axes, recs, names, x, y: seen.append(names) or
                        real_scatter(axes, recs, names, x, y))
    quality.quality_plots(records, tmp_path, "t", ["lambda_div=0", None])
    assert seen and all(names[0] == "lambda_div=0" for names in seen)
    fallback = quality.display_names(records)[1]   # no row name: the leaderboard's display name
    assert fallback.startswith("dpsims (") and all(names[1] == fallback for names in seen)


CLOSE_POINTS = [(84.2, 0.81, "gcdp", "C0"), (85.9, 0.81, "inade", "C1"), (99.7, 0.60, "sdm", "C2"),
                (99.7, 0.46, "real", "0.4"), (99.7, 0.43, "shapes-oracle", "0.4")]
# The shapes board of 2026-12-03 (log FID): its crowd at mIoU 85-100, FID 0.4-0.8 once overlapped two names.
BOARD_POINTS = [(99.79, 0.38, "sdm", "C0"), (85.30, 0.48, "gcdp (known_level=1.0)", "C1"), (85.78, 0.55, "inade", "C2"),
                (97.98, 0.60, "gcdp (known_level=1.0, layout_guidance=1.0)", "C3"), (98.93, 0.71, "dpsims", "C4"),
                (92.98, 0.80, "gcdp (known_level=0.5)", "C5"), (98.22, 3.01, "palette", "C6"),
                (6.60, 19.88, "piti", "C7"), (4.14, 25.53, "palette (ignore_layout)", "C8"),
                (99.66, 0.11, "real", "0.4"), (99.55, 0.11, "shapes-oracle", "0.4")]


@pytest.mark.parametrize("points, log", [(CLOSE_POINTS, False), (BOARD_POINTS, True)], ids=["close", "board"])
def test_quality_plot_labels_of_close_points_do_not_overlap(points: list, log: bool) -> None:
    from semsynth.reporting.plots import quality
    from semsynth.reporting.plots.png import plt

    figure, axes = plt.subplots(figsize=(6.4, 4.6))
    axes.plot([x for x, _, _, _ in points], [y for _, y, _, _ in points], "o")
    axes.set_xlim(0, 100)
    if log:
        axes.set_yscale("log")
    quality.place_labels(axes, points)
    renderer = figure.canvas.get_renderer()
    boxes = [text.get_window_extent(renderer) for text in axes.texts]
    frame = axes.get_window_extent(renderer)
    plt.close(figure)
    assert [text.get_text() for text in axes.texts] == [name for _, _, name, _ in points]
    assert [text.get_color() for text in axes.texts] == [colour for _, _, _, colour in points]   # whose name it is
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(frame.x0 <= box.x0 and box.x1 <= frame.x1 for box in boxes)   # no name crosses the axes' frame
