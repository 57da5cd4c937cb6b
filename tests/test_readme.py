"""Every python block of README.md runs as written.

The Quick start runs on both backends and its port agrees with ``hh``; the other
blocks of a section run in order in one fresh interpreter, as pasted into a
notebook; a block marked ``<!-- excerpt of examples/X.py -->`` must still be in
that script (tests/test_examples.py runs the scripts).
"""
import re
from pathlib import Path

import pytest

from conftest import BACKENDS
from pycat_cell import check_snippet, run_snippet

README = Path(__file__).resolve().parent.parent / "README.md"


def quick_start_code():
    """The Python blocks of the README's Quick start section, in order."""
    text = README.read_text()
    section = text[text.index("## Quick start"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) >= 3, "the Quick start lost its code blocks"
    return "\n".join(blocks)


@pytest.mark.parametrize("backend", BACKENDS)
def test_quick_start_runs(backend):
    code = quick_start_code()
    code = code.replace("arbor_pycat.build()", f"arbor_pycat.build(backend={backend!r})\n"
                        f"assert arbor_pycat.builder.last_backends['custom_hh'] == {backend!r}")
    code = code.replace('compare(HH, "hh", cvs=16, duration=200)',
                        f'compare(HH, "hh", cvs=16, duration=200, backend={backend!r})')
    assert f"backend={backend!r}" in code
    code += f"\nassert result.backend == {backend!r} and result.max_dv < 2e-9, result\n"
    output = check_snippet(code, timeout=300).stdout
    spikes = int(re.search(r"(\d+) spikes, peak", output).group(1))
    assert spikes >= 2, output


# --- every other python block of the README -------------------------------------------------

EXCERPT = re.compile(r"<!-- excerpt of (\S+) -->\s*$")
RAISES = re.compile(r"<!-- raises (\w+) -->\s*$")


def readme_blocks():
    """[(section, marker line before the block or '', code)] for every python block."""
    blocks, section, previous = [], "", ""
    lines = README.read_text().splitlines()
    k = 0
    while k < len(lines):
        line = lines[k]
        if line.startswith("## "):
            section = line[3:].strip()
        if line.strip() == "```python":
            end = lines.index("```", k + 1)
            blocks.append((section, previous, "\n".join(lines[k + 1:end]) + "\n"))
            k = end
        elif line.strip():
            previous = line.strip()
        k += 1
    return blocks


def _normalised(line):
    return " ".join(line.split())


@pytest.mark.parametrize("section, marker, code", [b for b in readme_blocks() if EXCERPT.match(b[1])],
                         ids=lambda value: value if isinstance(value, str) and value.startswith("<!--") else "")
def test_excerpt_is_in_its_script(section, marker, code):
    """An excerpt's lines appear, in order, in the script it names (which test_examples runs)."""
    script = README.parent / EXCERPT.match(marker).group(1)
    assert script.is_file(), f"{marker}: no such script"
    text = [_normalised(line) for line in script.read_text().splitlines()]
    position = 0
    for line in filter(None, (_normalised(line) for line in code.splitlines())):
        try:
            position = text.index(line, position) + 1
        except ValueError:
            raise AssertionError(f"{script.name} no longer contains this line of the README's "
                                 f"excerpt (after line {position}): {line!r}") from None


def _runnable_sections():
    """{section: [(marker, code), ...]} of the blocks that run as written, in order.

    Every python block is tested: the Quick start's by test_quick_start_runs, an
    excerpt by test_excerpt_is_in_its_script, any other by test_blocks_run_as_written
    (an unmarked fragment fails there with a NameError: mark it as an excerpt)."""
    sections = {}
    for section, marker, code in readme_blocks():
        if section == "Quick start" or EXCERPT.match(marker):
            continue     # the Quick start: test_quick_start_runs; excerpts: above
        sections.setdefault(section, []).append((marker, code))
    return sections


@pytest.mark.parametrize("section", sorted(_runnable_sections()))
def test_blocks_run_as_written(section):
    """The blocks of a section, pasted in order into one fresh session, run; a block marked
    ``<!-- raises X -->`` raises X with the message its comments show."""
    pending = []
    for marker, code in _runnable_sections()[section]:
        expected = RAISES.match(marker)
        if expected is None:
            pending.append(code)
            continue
        result = run_snippet("\n".join(pending + [code]), timeout=120)
        assert result.returncode != 0, f"this block should raise {expected.group(1)}:\n{code}"
        last = result.stderr.strip().splitlines()
        error_lines = [line for line in last if line.startswith(("arbor_pycat.", expected.group(1)))]
        assert error_lines and expected.group(1) in error_lines[-1], result.stderr
        shown = re.search(rf"# {expected.group(1)}: (.*)", code)
        assert shown, "the block should show the message in a comment"
        assert shown.group(1).strip() in result.stderr, result.stderr
    if pending:
        check_snippet("\n".join(pending), timeout=120)
