"""The Quick start of README.md runs as written (both backends) and its port agrees with ``hh``."""
import re
from pathlib import Path

import pytest

from conftest import BACKENDS
from pycat_cell import check_snippet

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
    code += f"\nassert result.backend == {backend!r} and result.max_dv < 1e-6, result\n"
    output = check_snippet(code, timeout=300).stdout
    spikes = int(re.search(r"(\d+) spikes, peak", output).group(1))
    assert spikes >= 2, output
