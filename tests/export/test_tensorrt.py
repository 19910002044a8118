"""TensorRT engine building and running (``export/tensorrt.py``).

The engine tests need ``tensorrt`` and a CUDA GPU and skip elsewhere with the reason printed;
CI machines have neither, so there only the checks that come before TensorRT run (profile
resolution, the missing-TensorRT message, the engine record).
"""

import importlib
import json
import shutil

import pytest
import torch

from optional import require  # tests/optional.py (tests/ is on sys.path via its conftest)

require("onnx", "onnxruntime", "onnxscript", install="pip install -c constraints.txt -e '.[export]'")

from slr_fused.data.dataset import PoseDataset, collate_poses  # noqa: E402
from slr_fused.export.onnx import ExportError, sha256_file  # noqa: E402
from slr_fused.export.runtime import BatchTooLargeError, OnnxRuntimeRunner, RunnerInputError  # noqa: E402
from slr_fused.export.tensorrt import (EngineMismatchError, Profile, TensorRTRunner,  # noqa: E402
                                       TensorRTUnavailableError, build_engine,
                                       engine_record_path, import_tensorrt)


def tensorrt_missing_reason():
    try:
        importlib.import_module("tensorrt")
    except ImportError:
        return "TensorRT is not installed (it needs an NVIDIA GPU: `pip install tensorrt` there)"
    if not torch.cuda.is_available():
        return "TensorRT is installed but there is no CUDA GPU"
    return None


@pytest.fixture(scope="module")
def tensorrt():
    reason = tensorrt_missing_reason()
    if reason:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return importlib.import_module("tensorrt")


# --- without TensorRT ---------------------------------------------------------------------------

def test_profile_defaults_and_checks():
    dynamic = Profile().resolved(static_length=None, max_frames=256)
    assert (dynamic.min_length, dynamic.opt_length, dynamic.max_length) == (1, 128, 256)
    shapes = dynamic.shapes(with_mask=True)
    assert shapes["left_hand"] == ((1, 1, 42), (8, 128, 42), (32, 256, 42))
    assert shapes["body"][2] == (32, 256, 24) and shapes["padding_mask"][1] == (8, 128)
    assert "padding_mask" not in dynamic.shapes(with_mask=False)
    short = Profile(max_length=60).resolved(static_length=None, max_frames=256)
    assert short.opt_length == 60
    fixed = Profile().resolved(static_length=204, max_frames=256)
    assert (fixed.min_length, fixed.opt_length, fixed.max_length) == (204, 204, 204)
    with pytest.raises(ExportError, match="fixed length of 204 frames"):
        Profile(max_length=100).resolved(static_length=204, max_frames=256)
    with pytest.raises(ExportError, match="length profile must satisfy"):
        Profile(min_length=50, opt_length=10).resolved(static_length=None, max_frames=256)


def test_missing_tensorrt_is_one_clear_error(exported, tmp_path):
    if tensorrt_missing_reason() is None:
        pytest.skip("TensorRT and a GPU are present: the missing-TensorRT message cannot be shown")
    with pytest.raises(TensorRTUnavailableError, match=r"pip install tensorrt|no CUDA GPU"):
        import_tensorrt()
    # The ONNX file and the profile were fine: the build fails only for want of TensorRT.
    with pytest.raises(TensorRTUnavailableError):
        build_engine(exported[0], tmp_path / "model.engine", log=lambda line: None)
    assert not (tmp_path / "model.engine").exists()


def test_engine_without_its_record_is_refused(tmp_path):
    (tmp_path / "model.engine").write_bytes(b"\0" * 16)
    with pytest.raises(EngineMismatchError, match="model.engine.json is missing"):
        TensorRTRunner(tmp_path / "model.engine", trust=True)
    assert engine_record_path(tmp_path / "model.engine").name == "model.engine.json"


# --- with TensorRT and a GPU ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def engines(tensorrt, exported, tmp_path_factory):
    folder = tmp_path_factory.mktemp("engines")
    profile = Profile(min_batch=1, opt_batch=16, max_batch=64, min_length=1, opt_length=128,
                      max_length=256)
    built = {}
    for precision in ("fp16", "fp32"):
        path = folder / f"model-{precision}.engine"
        record = build_engine(exported[0], path, precision=precision, profile=profile,
                              timing_cache=folder / "timing.cache", log=print)
        built[precision] = (path, record)
    return built


def bsl16_batches(root, batch_size=48):
    dataset = PoseDataset(root / "bsl16" / "bsl16_test.csv", max_frames=256)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate_poses)


def test_engine_record(engines, exported, tensorrt):
    path, record = engines["fp16"]
    on_disk = json.loads(engine_record_path(path).read_text())
    assert on_disk == record
    assert record["tensorrt_version"] == tensorrt.__version__
    assert record["gpu"]["name"] == torch.cuda.get_device_name(0)
    assert record["precision"] == "fp16" and record["fp32_pinned_layers"] > 0
    assert record["onnx_sha256"] == sha256_file(exported[0])
    assert record["profile"]["max_batch"] == 64 and record["profile_shapes"]["left_hand"][2] == [64, 256, 42]
    assert len(record["class_names"]) == 16 and "padding_mask" in record["input_layout"]
    assert (path.parent / "timing.cache").stat().st_size > 0


def test_engines_agree_with_onnx_runtime_on_bsl16(engines, exported, shared_data):
    reference = OnnxRuntimeRunner(exported[0])
    runners = {p: TensorRTRunner(path) for p, (path, _) in engines.items()}
    worst = {p: 0.0 for p in runners}
    same = {p: 0 for p in runners}
    total = 0
    for batch in bsl16_batches(shared_data):
        args = (batch["lh"], batch["rh"], batch["body"], batch["padding_mask"])
        expected = reference(*args)
        for precision, runner in runners.items():
            logits = runner(*args)
            assert logits.device.type == "cpu" and torch.isfinite(logits).all()
            worst[precision] = max(worst[precision], float((logits - expected).abs().max()))
            same[precision] += int((logits.argmax(-1) == expected.argmax(-1)).sum())
        total += len(batch["label"])
    print(f"TensorRT vs ONNX Runtime on bsl16 test ({total}): max |diff| {worst}, top-1 agreement {same}")
    assert total == 240
    assert same["fp16"] / total >= 0.99
    assert same["fp32"] == total and worst["fp32"] <= 1e-3


def test_engine_runner_errors(engines, tmp_path):
    path, record = engines["fp16"]
    runner = TensorRTRunner(path)
    generator = torch.Generator().manual_seed(0)
    lh, rh = (torch.randn(65, 10, 42, generator=generator) for _ in range(2))
    body = torch.randn(65, 10, 24, generator=generator)
    with pytest.raises(BatchTooLargeError, match="batch 65 is above the maximum 64"):
        runner(lh, rh, body)
    assert runner(lh[:64].cuda(), rh[:64].cuda(), body[:64].cuda()).device.type == "cuda"
    with pytest.raises(RunnerInputError, match="entirely padding"):
        runner(lh[:2], rh[:2], body[:2], torch.ones(2, 10, dtype=torch.bool))
    # An engine whose record names another GPU is refused before it is deserialized.
    copy = tmp_path / "other.engine"
    shutil.copy(path, copy)
    record = dict(record, gpu={"name": "NVIDIA Jetson Orin Nano", "compute_capability": "8.7"})
    engine_record_path(copy).write_text(json.dumps(record))
    with pytest.raises(EngineMismatchError, match="built on NVIDIA Jetson Orin Nano"):
        TensorRTRunner(copy)


def test_fp16_padding_stays_finite_and_ignored(engines):
    runner = TensorRTRunner(engines["fp16"][0])
    generator = torch.Generator().manual_seed(1)
    lh, rh = (torch.randn(1, 10, 42, generator=generator) for _ in range(2))
    body = torch.randn(1, 10, 24, generator=generator)
    short = runner(lh, rh, body)
    pad = lambda x: torch.cat([x, torch.full((1, 30, x.shape[-1]), 3.0)], dim=1)  # noqa: E731
    mask = torch.zeros(1, 40, dtype=torch.bool)
    mask[0, 10:] = True
    padded = runner(pad(lh), pad(rh), pad(body), mask)
    assert torch.isfinite(padded).all()
    assert float((padded - short).abs().max()) <= 0.05   # fp16 tolerance on logits


def test_cli_prints_the_equivalent_trtexec_command(parser, exported):
    import onnx
    path = exported[0]
    lines = []
    args = parser.parse_args(["export", "tensorrt", str(path), "--output", "model.engine",
                              "--max-batch", "16", "--opt-length", "64", "--timing-cache", "t.cache",
                              "--print-trtexec"])
    from slr_fused.export.cli import run_export
    assert run_export(args, log=lines.append) == 0
    parts = [part.strip(" \\") for part in lines[0].splitlines()]
    assert parts[0] == "trtexec"
    flags = dict(part.split("=", 1) for part in parts[1:] if "=" in part)
    assert flags["--onnx"] == str(path) and flags["--saveEngine"] == "model.engine"
    assert flags["--minShapes"] == "left_hand:1x1x42,right_hand:1x1x42,body:1x1x24,padding_mask:1x1"
    assert flags["--optShapes"] == "left_hand:8x64x42,right_hand:8x64x42,body:8x64x24,padding_mask:8x64"
    assert flags["--maxShapes"].endswith("padding_mask:16x256")
    assert flags["--precisionConstraints"] == "obey" and flags["--timingCacheFile"] == "t.cache"
    assert "--fp16" in parts
    # Every LayerNormalization and Softmax node of the graph is pinned to fp32, by its name.
    pinned = {spec.rsplit(":", 1)[0] for spec in flags["--layerPrecisions"].split(",")}
    graph = onnx.load(str(path), load_external_data=False).graph
    wanted = {n.name for n in graph.node if n.op_type in ("LayerNormalization", "Softmax")}
    assert len(wanted) >= 6 and wanted <= pinned
    assert all(spec.endswith(":fp32") for spec in flags["--layerOutputTypes"].split(","))


# --- the builder's calls, against a recording stand-in for the tensorrt module ------------------
# Not a TensorRT test (that needs a GPU, above): it runs build_engine's own logic on machines
# without TensorRT and checks the calls it makes, with the TensorRT 10 names it makes them by.

class _Recorder:
    def __init__(self, **attributes):
        self.__dict__.update(attributes)


def fake_tensorrt(parse_ok=True, build_ok=True):
    import types
    import onnx
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.0.1-fake"
    trt.float32, trt.float16 = "float32", "float16"
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.LayerType = _Recorder(NORMALIZATION="NORMALIZATION", SOFTMAX="SOFTMAX", REDUCE="REDUCE")
    trt.BuilderFlag = _Recorder(FP16="FP16", OBEY_PRECISION_CONSTRAINTS="OBEY", TF32="TF32", INT8="INT8")
    trt.MemoryPoolType = _Recorder(WORKSPACE="WORKSPACE")
    kinds = {"LayerNormalization": "NORMALIZATION", "Softmax": "SOFTMAX"}
    calls = _Recorder(flags={"TF32"}, shapes={}, pools={}, layers=[], created=[])

    def make_layer(node):
        layer = _Recorder(type=kinds.get(node.op_type, "REDUCE" if node.op_type.startswith("Reduce")
                                          else node.op_type),
                          precision=None, num_outputs=1, output_types={}, name=node.name)
        layer.get_output = lambda i: _Recorder(dtype="float32")
        layer.set_output_type = lambda i, t: layer.output_types.__setitem__(i, t)
        return layer

    class Network:
        def __init__(self):
            self.layers = calls.layers

        @property
        def num_layers(self):
            return len(self.layers)

        def get_layer(self, i):
            return self.layers[i]

    class OnnxParser:
        num_errors = 0 if parse_ok else 1

        def __init__(self, network, logger):
            self.network = network

        def parse_from_file(self, path):
            if parse_ok:
                graph = onnx.load(path, load_external_data=False).graph
                self.network.layers.extend(make_layer(n) for n in graph.node)
            return parse_ok

        def get_error(self, i):
            return "In node 3 (importFoo): UNSUPPORTED_NODE"

    class Config:
        def set_flag(self, flag):
            calls.flags.add(flag)

        def clear_flag(self, flag):
            calls.flags.discard(flag)

        def set_memory_pool_limit(self, pool, size):
            calls.pools[pool] = size

        def add_optimization_profile(self, profile):
            calls.profile = profile

        def create_timing_cache(self, data):
            calls.cache_in = data
            return _Recorder(serialize=lambda: b"timings")

        def set_timing_cache(self, cache, ignore_mismatch):
            calls.ignore_mismatch = ignore_mismatch

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            calls.network_flags = flags
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return _Recorder(set_shape=lambda name, *dims: calls.shapes.__setitem__(name, dims))

        def build_serialized_network(self, network, config):
            return b"serialized engine" if build_ok else None

    trt.Builder, trt.OnnxParser = Builder, OnnxParser
    return trt, calls


@pytest.fixture
def fake_gpu(monkeypatch):
    def install(**options):
        trt, calls = fake_tensorrt(**options)
        monkeypatch.setitem(__import__("sys").modules, "tensorrt", trt)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=0: "NVIDIA Fake GPU")
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=0: (8, 7))
        return calls
    return install


def test_build_engine_makes_the_tensorrt10_calls(fake_gpu, exported, tmp_path):
    import onnx
    calls = fake_gpu()
    (tmp_path / "timing.cache").write_bytes(b"old timings")
    profile = Profile(min_batch=1, opt_batch=4, max_batch=16, opt_length=64, max_length=200)
    record = build_engine(exported[0], tmp_path / "m.engine", precision="fp16", profile=profile,
                          timing_cache=tmp_path / "timing.cache", workspace_gib=0.5,
                          log=lambda line: None)
    assert (tmp_path / "m.engine").read_bytes() == b"serialized engine"
    assert (tmp_path / "timing.cache").read_bytes() == b"timings" and calls.cache_in == b"old timings"
    assert calls.ignore_mismatch is False and calls.network_flags == 0
    assert {"FP16", "OBEY"} <= calls.flags and calls.pools == {"WORKSPACE": 1 << 29}
    assert calls.shapes["left_hand"] == ((1, 1, 42), (4, 64, 42), (16, 200, 42))
    assert calls.shapes["padding_mask"] == ((1, 1), (4, 64), (16, 200))
    graph = onnx.load(str(exported[0]), load_external_data=False).graph
    sensitive = [n for n in graph.node if n.op_type in ("LayerNormalization", "Softmax")
                 or n.op_type.startswith("Reduce")]
    pinned = [layer for layer in calls.layers if layer.precision == "float32"]
    assert record["fp32_pinned_layers"] == len(sensitive) == len(pinned)
    assert {layer.name for layer in pinned} == {n.name for n in sensitive}
    assert all(layer.output_types == {0: "float32"} for layer in pinned)
    assert record["gpu"] == {"name": "NVIDIA Fake GPU", "compute_capability": "8.7"}
    assert record["tensorrt_version"] == "10.0.1-fake" and record["onnx_sha256"] == sha256_file(exported[0])
    assert json.loads(engine_record_path(tmp_path / "m.engine").read_text()) == record


def test_build_engine_fp32_turns_tf32_off_and_reports_failures(fake_gpu, exported, tmp_path):
    from slr_fused.export.tensorrt import EngineBuildError
    calls = fake_gpu()
    record = build_engine(exported[0], tmp_path / "m.engine", precision="fp32", log=lambda line: None)
    assert "TF32" not in calls.flags and "FP16" not in calls.flags
    assert record["fp32_pinned_layers"] == 0 and record["profile"]["max_length"] == 256
    fake_gpu(parse_ok=False)
    with pytest.raises(EngineBuildError, match="ONNX parser rejected .*UNSUPPORTED_NODE"):
        build_engine(exported[0], tmp_path / "x.engine", log=lambda line: None)
    fake_gpu(build_ok=False)
    with pytest.raises(EngineBuildError, match="failed to build an engine"):
        build_engine(exported[0], tmp_path / "x.engine", log=lambda line: None)
    assert not (tmp_path / "x.engine").exists()
