"""What `slr info` reports (slr/info.py); the command itself runs in tests/test_cli.py."""

from slr_fused import __version__, info


def test_backends_rows():
    rows = info.backends()
    assert rows[0] == ("reference (PyTorch)", True, "always")
    names = [name for name, _, _ in rows]
    assert "triton" in names and "tensorrt" in names and "aotinductor export (.pt2)" in names
    assert all(isinstance(ok, bool) and why for _, ok, why in rows)


def test_environment_report_names_versions_and_backends(monkeypatch):
    monkeypatch.setattr(info, "backends", lambda: [("reference (PyTorch)", True, "always"),
                                                   ("tensorrt", False, "not installed")])
    monkeypatch.setattr(info, "package_version", lambda name: "9.9")   # no heavy imports
    lines = info.environment_report().splitlines()
    assert lines[0] == f"slr-fused {__version__}" and lines[1].startswith("python ")
    assert [f"{name} 9.9" for name in info.OPTIONAL_PACKAGES] == lines[3:3 + len(info.OPTIONAL_PACKAGES)]
    assert lines[-3:] == ["Backends:", "  yes reference (PyTorch): always",
                          "  no  tensorrt: not installed"]


def test_model_report_formats_the_parameter_table(monkeypatch):
    monkeypatch.setattr(info, "parameter_table",
                        lambda n: [("baseline", 1000, 0, 0.0, 0.0), ("block", 1100, 100, 100 / 1100, 0.1)])
    lines = info.model_report(num_classes=7).splitlines()
    assert "7 classes" in lines[0] and len(lines) == 4
    assert lines[3].split() == ["block", "1,100", "100", "9.1%", "+10.0%"]
