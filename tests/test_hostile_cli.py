"""The `bench` command as a hostile or hurried user meets it (real subprocesses): usage errors in one line, `--help`
and `--version`, listing without importing torch, nothing written outside the run folder and the suite's cache, and
the thread policy set before torch is imported."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import semsynth
from semsynth import registry
from semsynth.cli import build_parser
from semsynth.index import BUILTINS, describe

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PATH = Path(__file__).parent / "plugins" / "palette_plugin"
LIST_KINDS = ("methods", "datasets", "metrics", "segmenters", "weights", "protocols")


def bench(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(PLUGIN_PATH)]), **(env or {})}
    return subprocess.run([sys.executable, "-m", "semsynth", *args], capture_output=True, text=True, cwd=cwd, env=env)


def python(code: str, env: dict[str, str] | None = None) -> str:
    """stdout of ``python -c code``, in this environment without OMP_WAIT_POLICY, plus ``env``."""
    env = {**{key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}, "PYTHONPATH": str(ROOT),
           **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout


@pytest.mark.parametrize("args", [
    [], ["lst"], ["list", "bogus"], ["run"], ["run", "--method", "sdm", "--limit", "abc"],
    ["run", "--method", "sdm", "--limit", "0"], ["run", "--method", "sdm", "--batch-size", "-3"],
    ["run", "--method", "sdm", "--guidance", "strong"], ["run", "--method", "sdm", "--no-such-flag"],
    ["run", "--method"], ["sample", "--method", "real", "--seeds", "zero-three"], ["datasets", "check"],
    ["weights", "delete"], ["train", "--steps", "1.5"],
])
def test_usage_errors_are_one_line_with_a_help_hint(tmp_path: Path, args: list[str]) -> None:
    result = bench(*args, cwd=tmp_path)
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--help`)" in lines[0], result.stderr
    assert "usage:" not in result.stderr and "Traceback" not in result.stderr and not result.stdout
    assert not list(tmp_path.iterdir())


def test_version_matches_the_package_metadata() -> None:
    result = bench("--version")
    declared = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert result.returncode == 0 and result.stdout.strip() == f"bench {declared}"
    assert declared == semsynth.__version__


def test_every_option_of_every_command_has_help() -> None:
    commands = next(action for action in build_parser()._actions if action.dest == "command").choices
    for name, parser in commands.items():
        for action in parser._actions:
            assert action.help, f"bench {name} {'/'.join(action.option_strings) or action.dest} has no help text"


def test_run_help_shows_defaults() -> None:
    result = bench("run", "--help")
    text = " ".join(result.stdout.split())
    assert result.returncode == 0
    for shown in ("(default: 16)", "(default: shapes)", "(default: semsynth-v1)", "(default: runs)",
                  "(default: cpu)", "(default: native)", "(default: the protocol's count)"):
        assert shown in text, shown


@pytest.mark.parametrize("args", [[*("list", kind)] for kind in LIST_KINDS if kind != "weights"]
                         + [["--help"], ["run", "--help"], ["list", "--help"]])
def test_listing_and_help_import_neither_torch_nor_mmengine(args: list[str]) -> None:
    code = ("import sys; from semsynth.cli import main\n"
            "try:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'mmengine', 'yapf', 'numpy'}))"
            % args)
    assert python(code).splitlines()[-1] == "HEAVY []"


def test_builtin_index_matches_the_registered_classes() -> None:
    registry.load_plugins()
    for kind, names in BUILTINS.items():
        table = getattr(registry, f"{kind.upper()}S")
        built_in = {name: cls for name, cls in table.module_dict.items() if cls.__module__.startswith("semsynth.")}
        assert set(built_in) == set(names), f"semsynth/index.py lists other {kind}s than are registered"
        for name, (module, summary) in names.items():
            rendered = describe(kind, built_in[name])
            assert (module, summary) == (built_in[name].__module__, rendered), \
                f"semsynth/index.py entry of {kind} {name!r} must be {(built_in[name].__module__, rendered)!r}"


def test_listing_names_plugins_and_lookup_finds_them() -> None:
    listed = bench("list", "methods").stdout.split("\n")
    assert any(line.startswith("palette ") and "Gaussian noise" in line for line in listed)
    assert [line.split()[0] for line in listed if line] == sorted(["palette", *BUILTINS["method"]])
    result = bench("run", "--method", "nope", "--limit", "1")
    assert result.returncode == 2 and "known: gcdp, inade, palette, real, sdm, shapes-oracle" in result.stderr


def test_nothing_is_written_outside_the_run_folder_and_the_cache(tmp_path: Path) -> None:
    home, cwd, cache, out = (tmp_path / name for name in ("home", "cwd", "cache", "runs"))
    home.mkdir()
    cwd.mkdir()
    env = {"HOME": str(home), "SEMSYNTH_CACHE": str(cache), "XDG_CACHE_HOME": str(home / "xdg-cache"),
           "XDG_CONFIG_HOME": str(home / "xdg-config")}
    assert bench("list", "methods", cwd=cwd, env=env).returncode == 0
    assert not list(home.iterdir()) and not list(cwd.iterdir())
    result = bench("run", "--method", "palette", "--limit", "2", "--out", str(out), "--quiet", cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    assert not list(home.iterdir()) and not list(cwd.iterdir())
    assert {path.name for path in tmp_path.iterdir()} == {"home", "cwd", "cache", "runs"}


def test_thread_policy_is_set_before_torch_and_never_overrides_the_user() -> None:
    code = ("import os, sys; from semsynth.cli import main; main(['list', 'protocols'])\n"
            "print('POLICY', os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    assert python(code).splitlines()[-1] == "POLICY PASSIVE False"
    assert python(code, {"OMP_WAIT_POLICY": "ACTIVE"}).splitlines()[-1] == "POLICY ACTIVE False"
