"""environment.yml (conda, Binder) and pyproject.toml (pip, `make book`) must describe one environment."""

import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return dict(r.split("==", 1) for r in reqs)


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return dict(r.split("==", 1) for r in pip_section if "==" in r)


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
        assert "==" in req, f"{req!r} in pyproject.toml is not pinned with =="


def test_environment_yml_names_the_same_packages_and_pins():
    assert _environment_pins() == _pyproject_pins()


def test_environment_yml_installs_seqlib_itself():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section
