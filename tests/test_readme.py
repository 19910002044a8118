"""The README's two set-up commands are what CI runs and what the code supports."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands():
    return [line for line in (ROOT / "README.md").read_text().splitlines()
            if re.match(r"^(bash|python3?) ", line)][:2]


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert first_block == _commands()
    assert "slr train" in first_block[0] and "pytest" in first_block[1]


def test_ci_runs_the_readme_test_command():
    found = subprocess.run(
        ["bash", "-c", "grep -m2 -E '^(bash|python3?) ' README.md | sed -n 2p"],
        cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert found == _commands()[1]
    assert "README.md" in (ROOT / ".ci" / "run").read_text()


def test_the_main_job_trains_with_cmcl():
    """CMCL is off by default (as in the seed), so the README's demo turns it on explicitly."""
    import shlex

    from slr_fused.cli import build_parser
    first = _commands()[0]
    argv = shlex.split(first.split("slr ", 1)[1])
    args = build_parser().parse_args(argv)
    assert args.command == "train" and args.use_cmcl is True and args.use_cross_attention is True
    assert build_parser().parse_args(["train"]).use_cmcl is False   # so the README must say it
