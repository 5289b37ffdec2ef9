"""requirements.txt is the one place for pins; environment.yml must agree with it."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILT_FROM_SOURCE = "mmcv-full"  # not in environment.yml's pip section: built after it


def requirement_pins():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_every_requirement_is_pinned_exactly():
    text = (ROOT / "requirements.txt").read_text()
    lines = [ln.split("#")[0].strip() for ln in text.splitlines()]
    for line in filter(None, lines):
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+-]*", line), line


def test_environment_yml_agrees_with_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = dict(p.lower().split("==") for p in pip_section)
    expected = {k: v for k, v in requirement_pins().items() if k != BUILT_FROM_SOURCE}
    assert env_pins == expected


def test_environment_yml_explains_the_mmcv_full_build():
    text = (ROOT / "environment.yml").read_text()
    version = requirement_pins()[BUILT_FROM_SOURCE]
    assert f"mmcv-full=={version}" in text and "FORCE_CUDA=1" in text and "MMCV_WITH_OPS=1" in text


def test_setup_script_installs_from_requirements_and_pyproject_python():
    setup = (ROOT / "setup.sh").read_text()
    assert "pin torch" in setup and "pin mmcv-full" in setup and "-r requirements.txt" in setup
    assert 'requires-python = ">=3.11,<3.12"' in (ROOT / "pyproject.toml").read_text()
