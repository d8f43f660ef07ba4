"""Griffe extension for the API reference: an op's docstring is a list of formulas.

Each op class in `tinygrad_cnn.ops` documents itself with one formula per line (the
forward, then dE/d(input) for each input). Rendered as Markdown those lines would run
together into one paragraph, and `*` or `_` in them could turn into emphasis, so they
are shown as written, in a text block.
"""

from __future__ import annotations

from typing import Any

import griffe


class OpFormulas(griffe.Extension):
    def on_class_instance(self, *, node: Any, cls: griffe.Class, agent: Any, **kwargs: Any) -> None:
        if not cls.path.startswith("tinygrad_cnn.ops.") or cls.docstring is None:
            return
        formulas = "\n".join(line.strip() for line in cls.docstring.value.splitlines() if line.strip())
        cls.docstring.value = f"```text\n{formulas}\n```"
