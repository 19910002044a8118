"""The benchmark harness (bench/common.py): inputs from the model, interleaved paired timing,
providers, the training step, result files and where they go."""

import argparse
import json
from pathlib import Path

import pytest
import torch

from slr_fused.bench import common
from slr_fused.losses import CMCLLoss

TINY = dict(d_ff=16, num_enc_layers=1, num_dec_layers=1)


def test_input_dims_come_from_the_model():
    model = common.build_model({}, 5, **TINY)
    assert common.input_dims(model) == {"lh": 42, "rh": 42, "body": 24}
    assert common.input_dims(model.cross_modal) == {"lh": 42, "rh": 42, "body": 24}

    class Narrow(torch.nn.Module):   # any model with positional tables of its own widths
        def __init__(self):
            super().__init__()
            self.positional = torch.nn.ParameterDict(
                {m: torch.nn.Parameter(torch.zeros(9, w)) for m, w in (("lh", 6), ("rh", 8),
                                                                      ("body", 4))})
    assert common.input_dims(Narrow()) == {"lh": 6, "rh": 8, "body": 4}
    assert common.input_dims(object()) == {"lh": 42, "rh": 42, "body": 24}   # an export


def test_random_inputs_are_seeded_and_shaped_by_the_dims():
    a = common.random_inputs(2, 5, seed=7, dims={"lh": 6, "rh": 8, "body": 4})
    assert [tuple(x.shape) for x in a] == [(2, 5, 6), (2, 5, 8), (2, 5, 4)]
    b = common.random_inputs(2, 5, seed=7, dims={"lh": 6, "rh": 8, "body": 4})
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    c = common.random_inputs(2, 5, seed=8, dims={"lh": 6, "rh": 8, "body": 4})
    assert not torch.equal(a[0], c[0])
    unit = common.random_inputs(1, 400, seed=1, scale=1.0)[0]
    scaled = common.random_inputs(1, 400, seed=1)[0]
    assert torch.allclose(scaled, unit * 0.3) and 0.8 < float(unit.std()) < 1.2


def test_measure_cell_warms_up_then_interleaves_every_runner_per_repeat(monkeypatch):
    calls = []
    runners = {name: (lambda inputs, name=name: calls.append((name, inputs)))
               for name in ("a", "b", "c")}
    monkeypatch.setattr(common, "time_call", lambda fn: (fn(), float(len(calls)))[1])
    samples = common.measure_cell(runners, "x", repeats=3, warmup=2)
    assert [n for n, _ in calls] == ["a", "b", "c"] * 5 and {i for _, i in calls} == {"x"}
    # each timed value is the call's position: every repeat runs a, b, c in turn
    assert samples == {"a": [7.0, 10.0, 13.0], "b": [8.0, 11.0, 14.0], "c": [9.0, 12.0, 15.0]}
    ratio = common.paired_ratio(samples["b"], samples["a"])
    assert ratio["n"] == 3 and ratio["median"] == pytest.approx(11 / 10)
    assert ratio["min"] == pytest.approx(14 / 13) and ratio["max"] == pytest.approx(8 / 7)


def test_providers_give_the_models_logits_and_refuse_what_cannot_run():
    model = common.build_model({}, 5, **TINY)
    inputs = common.random_inputs(2, 6, dims=common.input_dims(model))
    ctx = common.Context(torch.device("cpu"))
    with torch.no_grad():
        expected = model.eval()(*inputs)
    out = common.setup_eager(model, ctx)(inputs)
    assert torch.equal(out, expected) and not out.requires_grad
    with pytest.raises(common.Unavailable, match="the thing runs on CUDA only"):
        common.needs_cuda(ctx, "the thing")


def test_training_step_is_one_optimizer_step():
    torch.manual_seed(0)
    model = common.build_model({}, 4, **TINY).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    inputs = common.random_inputs(4, 6)
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[1, 4:] = True
    before = model.classifier.weight.detach().clone()
    loss, parts = common.training_step(model, optimizer, CMCLLoss(), inputs, mask,
                                       torch.arange(4), use_cmcl=True)
    assert loss.dim() == 0 and not loss.requires_grad and torch.isfinite(loss)
    assert not torch.equal(before, model.classifier.weight)
    assert set(parts) >= {"ce", "consistency", "alignment"} and parts["ce"].shape == (4,)


def test_results_go_to_the_chosen_folder_never_the_package(tmp_path, monkeypatch):
    parser = argparse.ArgumentParser()
    common.add_output_arguments(parser, "thing")
    args = parser.parse_args([])
    assert (args.output, args.name) == ("bench-results", "thing")
    assert not Path(args.output).is_absolute()          # relative to the working directory
    package = Path(common.__file__).resolve().parent
    monkeypatch.chdir(tmp_path)
    result = {"environment": {"device": "cpu-9c"}, "value": 1.5}
    paths = common.write_result(result, args.output, args.name,
                                lambda r: f"| value | {r['value']} |\n")
    assert paths["json"].resolve() == tmp_path / "bench-results" / "thing-cpu-9c.json"
    assert package not in paths["json"].resolve().parents
    assert json.loads(paths["json"].read_text()) == result
    assert paths["md"].read_text() == "| value | 1.5 |\n"
    assert common.REFERENCE_RESULTS == package / "results"


def test_no_benchmark_default_reaches_outside_the_repository():
    """Data defaults are the bundled demo data, output defaults the working directory: no
    module of bench/ names a ../shared path."""
    for path in Path(common.__file__).resolve().parent.glob("*.py"):
        text = path.read_text()
        assert '/ "shared"' not in text and "../shared" not in text, path.name
