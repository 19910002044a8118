"""Tests mirror the package one-to-one: every package module has its test module.

``slr/<m>.py`` -> ``tests/test_<m>.py``, ``slr/<sub>/<m>.py`` -> ``tests/<sub>/test_<m>.py``,
``kernels|export|bench/<m>.py`` -> ``tests/<folder>/test_<m>.py``. A module without one must be
in ALLOWED_WITHOUT_MIRROR with the reason; an entry that no longer applies fails too, so the
list only shrinks.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
PACKAGE_FOLDERS = ("slr", "kernels", "export", "bench")
NOT_MODULES = {"__init__.py", "__main__.py"}

# module (path from the repository root) -> why it has no test module of its own (one line)
ALLOWED_WITHOUT_MIRROR = {}


def mirror_of(module: Path) -> Path:
    """The test module that mirrors ``module`` (a path relative to the repository root)."""
    folder = module.parent.parts
    if folder[0] == "slr":
        folder = folder[1:]
    return TESTS.joinpath(*folder, f"test_{module.name}")


def package_modules():
    for top in PACKAGE_FOLDERS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.name not in NOT_MODULES and "__pycache__" not in path.parts:
                yield path.relative_to(ROOT)


def test_mirror_rule():
    assert mirror_of(Path("slr/cli.py")) == TESTS / "test_cli.py"
    assert mirror_of(Path("slr/stream/cli.py")) == TESTS / "stream" / "test_cli.py"
    assert mirror_of(Path("export/onnx.py")) == TESTS / "export" / "test_onnx.py"


def test_every_package_module_has_its_test_module():
    modules = list(package_modules())
    assert len(modules) > 50, "the package folders were not found"
    missing = [f"{m} -> {mirror_of(m).relative_to(ROOT)}" for m in modules
               if not mirror_of(m).is_file() and str(m) not in ALLOWED_WITHOUT_MIRROR]
    assert not missing, "modules without a mirrored test module:\n  " + "\n  ".join(missing)


def test_the_allowlist_is_current():
    modules = {str(m) for m in package_modules()}
    stale = [m for m in ALLOWED_WITHOUT_MIRROR
             if m not in modules or mirror_of(Path(m)).is_file()]
    assert not stale, f"remove from ALLOWED_WITHOUT_MIRROR (gone or now mirrored): {stale}"
    assert all(reason.strip() and "\n" not in reason for reason in ALLOWED_WITHOUT_MIRROR.values())
