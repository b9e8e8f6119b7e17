"""The locks in requirements/ cover pyproject.toml: a dependency added or re-pinned there without
`make lock` fails here, not as an ImportError on the next fresh install."""

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# Each lock and the extras it installs (the Makefile's install, install-dev, and a GPU machine).
LOCKS = {"cpu.txt": [], "cpu-dev.txt": ["dev", "vllm-cpu", "k8s"], "gpu.txt": ["gpu", "k8s"]}


def pins(lock: Path) -> dict[str, Version]:
    lines = (line.split("#")[0].strip() for line in lock.read_text().splitlines())
    pairs = (line.split("==") for line in lines if "==" in line)
    return {canonicalize_name(name): Version(version) for name, version in pairs}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_requirement_is_locked(lock: str):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *(r for extra in LOCKS[lock] for r in extras[extra])]
    pinned = pins(ROOT / "requirements" / lock)
    for requirement in map(Requirement, wanted):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in requirements/{lock}: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements/{lock} pins {name} {pinned[name]}, pyproject asks {requirement}: "
            "run `make lock`"
        )


def test_the_cpu_locks_take_the_cpu_torch():
    for lock in ("cpu.txt", "cpu-dev.txt"):
        assert pins(ROOT / "requirements" / lock)["torch"] == Version("2.13.0+cpu")
    assert pins(ROOT / "requirements" / "gpu.txt")["torch"] == Version("2.13.0")
