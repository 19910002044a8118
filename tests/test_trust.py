"""Model files that run native code (.pt2, .engine) load only when exported here or trusted."""

import os
import stat

import pytest
import torch

from slr_fused.checkpoint import save_model
from slr_fused.cli import main
from slr_fused.models.siformer import SiFormer, SiFormerConfig
from slr_fused.trust import UntrustedModelError, check_trusted, record_trusted, registry_path


@pytest.fixture(autouse=True)
def own_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("SLR_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def foreign_package(tmp_path):
    path = tmp_path / "downloaded.pt2"
    path.write_bytes(b"PK\x03\x04 a package from somewhere else")
    return path


def test_a_foreign_pt2_is_refused_before_its_library_is_loaded(foreign_package, tmp_path, capsys,
                                                              monkeypatch):
    from slr_fused.export.aoti import AotiRunner
    loaded = []
    monkeypatch.setattr(torch._inductor, "aoti_load_package", lambda *a, **k: loaded.append(a))
    with pytest.raises(UntrustedModelError, match="--trust-model"):
        AotiRunner(foreign_package)
    csv = tmp_path / "x.csv"
    csv.write_text("labels\n0\n")
    assert main(["predict", str(csv), "-m", str(foreign_package)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "not produced" in err and "--trust-model" in err and "shared library" in err
    assert loaded == []


def test_trusting_explicitly_reaches_the_loader(foreign_package, capsys):
    from slr_fused.export.runtime import ModelMismatchError
    from slr_fused.export.aoti import AotiRunner
    with pytest.raises(ModelMismatchError, match="not a loadable AOTInductor package"):
        AotiRunner(foreign_package, trust=True)
    assert main(["predict", "x.csv", "-m", str(foreign_package), "--trust-model"]) == 2
    assert "not produced" not in capsys.readouterr().err


def test_a_file_exported_here_is_trusted_until_it_changes(foreign_package):
    record_trusted(foreign_package)
    check_trusted(foreign_package)
    copy = foreign_package.with_name("copy.pt2")
    copy.write_bytes(foreign_package.read_bytes())
    check_trusted(copy)  # the same bytes, wherever they are
    foreign_package.write_bytes(foreign_package.read_bytes() + b"\x90 swapped library")
    with pytest.raises(UntrustedModelError, match="sha256 mismatch"):
        check_trusted(foreign_package)
    assert stat.S_IMODE(os.stat(registry_path()).st_mode) == 0o600


def test_a_foreign_engine_is_refused_before_tensorrt_is_imported(tmp_path, monkeypatch):
    import slr_fused.export.tensorrt as tensorrt
    monkeypatch.setattr(tensorrt, "import_tensorrt", lambda: pytest.fail("TensorRT was loaded"))
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"serialized engine")
    (tmp_path / "model.engine.json").write_text("{}")
    with pytest.raises(UntrustedModelError, match="TensorRT"):
        tensorrt.TensorRTRunner(engine)


def test_pickle_free_formats_need_no_trust(tmp_path):
    model = SiFormer(SiFormerConfig(num_classes=2, num_enc_layers=1, num_dec_layers=1, d_ff=16,
                                    max_frames=8))
    check_trusted(save_model(tmp_path / "m.pt", model))
    (tmp_path / "m.onnx").write_bytes(b"graph")
    check_trusted(tmp_path / "m.onnx")


def test_stream_applies_the_same_rule(foreign_package, capsys):
    assert main(["stream", "x.csv", "-m", str(foreign_package)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not produced" in err and "--trust-model" in err and "Traceback" not in err
