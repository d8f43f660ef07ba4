"""Griffe extension for the API reference: what a user of the library needs, nothing more.

- An op's docstring is a list of formulas (the forward, then dE/d(input) for each input).
  Rendered as Markdown those lines would run together into one paragraph, and `*` or `_`
  in them could turn into emphasis, so they are shown as written, in a text block.
- An op class (a `Function` subclass in `tinygrad_cnn.ops`) is documented by those formulas
  alone: its `forward`/`backward`, declared `name`, `options`, `saves`, `buffers`,
  `variants` and the options it stores are the machinery behind the public function
  (`tc.correlate2d`, ...), which is documented beside it.
- Module-level constants (ALL_CAPS attributes: colours, error-message templates, tables of
  allowed values) and type aliases are implementation details, and are left out.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")


class OpFormulas(griffe.Extension):
    def on_class_instance(self, *, node: Any, cls: griffe.Class, agent: Any, **kwargs: Any) -> None:
        if not cls.path.startswith("tinygrad_cnn.ops.") or cls.docstring is None:
            return
        formulas = "\n".join(line.strip() for line in cls.docstring.value.splitlines() if line.strip())
        cls.docstring.value = f"```text\n{formulas}\n```"

    def on_class_members(self, *, node: Any, cls: griffe.Class, agent: Any, **kwargs: Any) -> None:
        # every class defined in an ops module is an op (a Function, or a variant of one)
        if cls.path.startswith("tinygrad_cnn.ops.") and cls.bases:
            for name in list(cls.members):
                del cls.members[name]

    def on_module_members(self, *, node: Any, mod: griffe.Module, agent: Any, **kwargs: Any) -> None:
        for name, member in list(mod.members.items()):
            if member.is_alias:
                continue
            if member.is_attribute and (CONSTANT.match(name) or "type-alias" in getattr(member, "labels", ())
                                        or _is_type_alias(member)):
                del mod.members[name]
            elif getattr(member, "is_type_alias", False):
                del mod.members[name]


def _is_type_alias(attr: Any) -> bool:
    """`ArrayLike = Union[...]`-style aliases: an attribute whose value is a typing expression."""
    value = str(getattr(attr, "value", "") or "")
    typing = r"^(Any$|Union\[|Optional\[|Callable\[|Sequence\[|tuple\[|list\[|dict\[|.*\|)"
    return bool(re.match(typing, value)) and attr.name[:1].isupper()
