"""The README's example runs and prints exactly the output the README shows."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_example_prints_what_the_readme_shows(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    example = text[text.index("## Example"):]
    code = re.search(r"```python\n(.*?)```", example, re.S).group(1)
    shown = re.search(r"Output:\s*```text\n(.*?)```", example, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # the example renders seed.svg into the working folder
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})
    assert out.getvalue() == shown
    assert (tmp_path / "seed.svg").read_text().lstrip().startswith("<?xml")
