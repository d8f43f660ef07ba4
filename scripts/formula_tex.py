"""Turn an op docstring's formula line (the seed notes' plain-text notation) into TeX.

The docstrings are written to be read as plain text in a terminal, a drawing or an editor:
``dE/dK_ij = X_j ⋆ dE/dY_i``, ``Σ_i dE/dY_i *full K_ij``, ``Xᵀ @ dE/dZ``, ``√(V + ε)``.
The derivatives table typesets them with MathJax; this module is the one translation.

It works token by token and never fails: a symbol it does not know is kept as text
(``\\text{…}``), so a new op's docstring can use any notation without breaking the build
(the table just shows that symbol as written).
"""

from __future__ import annotations

import re

# single characters with a TeX spelling
SYMBOLS = {
    "⋆": r"\star ", "·": r"\cdot ", "−": "-", "×": r"\times ", "≤": r"\le ", "≥": r"\ge ", "≠": r"\ne ",
    "→": r"\to ", "←": r"\leftarrow ", "∈": r"\in ", "≈": r"\approx ", "∞": r"\infty ", "±": r"\pm ",
    "σ": r"\sigma ", "ε": r"\varepsilon ", "μ": r"\mu ", "β": r"\beta ", "γ": r"\gamma ", "α": r"\alpha ",
    "λ": r"\lambda ", "δ": r"\delta ", "θ": r"\theta ", "π": r"\pi ", "η": r"\eta ", "ρ": r"\rho ",
    "Φ": r"\Phi ", "φ": r"\varphi ", "∂": r"\partial ", "⊙": r"\odot ", "⌊": r"\lfloor ", "⌋": r"\rfloor ",
    "⌈": r"\lceil ", "⌉": r"\rceil ", "…": r"\dots ", "%": r"\% ", "&": r"\& ", "#": r"\# ", "$": r"\$ ",
    "~": r"\sim ", "{": r"\{", "}": r"\}", "\\": r"\backslash ", "'": "'", "|": r"\vert ",
}
SUPERSCRIPTS = {"²": "2", "³": "3", "ᵀ": r"\top", "⁻¹": "-1", "¹": "1", "ⁿ": "n"}
# names TeX knows as operators; any other name followed by "(" becomes \operatorname
FUNCTIONS = {"log", "ln", "exp", "tanh", "sin", "cos", "max", "min", "sinh", "cosh", "tan", "arg"}
# words that read as a mode or option when they follow an operator: ⋆full, *valid
MODE_WORDS = {"full", "valid", "same"}

TOKEN = re.compile(
    r"(?P<grad>d(?P<num>[A-Za-z]+(?:_[A-Za-z0-9]+)?)/d(?P<den>[A-Za-z]+(?:_[A-Za-z0-9]+)?))"
    r"|(?P<sum>Σ(?:_(?P<sumsub>[A-Za-z0-9]+))?)"
    r"|(?P<sqrt>√)"
    r"|(?P<word>[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)?)"
    r"|(?P<number>\d+(?:\.\d+)?)"
    r"|(?P<sup>\^)"
    r"|(?P<usup>⁻¹|[²³ᵀ¹ⁿ])"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    re.DOTALL,
)


def _sub(s: str) -> str:
    """A subscript: indices such as `ij` stay math, a word such as `axis` is text."""
    return s if len(s) <= 2 else r"\text{" + s + "}"


def _symbol(name: str) -> str:
    """A variable, possibly with a subscript: K_ij -> K_{ij}."""
    base, _, sub = name.partition("_")
    out = base if len(base) == 1 else r"\mathit{" + base + "}"
    return out + ("_{" + _sub(sub) + "}" if sub else "")


def _group(tokens: list[tuple[str, str]], i: int) -> tuple[str, int]:
    """The TeX of the operand starting at token i (a parenthesised group or one token), and the next index."""
    while i < len(tokens) and tokens[i][0] == "space":
        i += 1
    if i >= len(tokens):
        return "", i
    kind, text = tokens[i]
    if kind == "other" and text == "(":
        depth, j = 0, i
        while j < len(tokens):
            if tokens[j] == ("other", "("):
                depth += 1
            elif tokens[j] == ("other", ")"):
                depth -= 1
                if depth == 0:
                    return _convert(tokens[i + 1 : j]), j + 1
            j += 1
        return _convert(tokens[i + 1 :]), len(tokens)  # unbalanced: take the rest
    if kind == "other" and text in "−-":  # a signed operand: e^(−X) written e^−X
        rest, j = _group(tokens, i + 1)
        return "-" + rest, j
    return _convert(tokens[i : i + 1]), i + 1


def _text(raw: str) -> str:
    """Plain text inside TeX: \\text{...} with TeX's special characters escaped."""
    esc = re.sub(r"([{}$%&#_])", r"\\\1", raw.replace("\\", r"\textbackslash ")).replace("^", r"\^{}")
    return r"\text{" + esc.replace("~", r"\~{}") + "}"


def _is_prose(tokens: list[tuple[str, str]], i: int) -> bool:
    """Is token i an English word (not a variable, an index or a function name)?"""
    kind, text = tokens[i]
    if kind != "word" or not text.isalpha() or len(text) < 2 or text in FUNCTIONS:
        return False
    # a function is called without a space, rot180(K); "axes (rot180 ...)" is prose
    return tokens[i + 1 : i + 2] != [("other", "(")]


def _closing(tokens: list[tuple[str, str]], i: int) -> int | None:
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j] == ("other", "("):
            depth += 1
        elif tokens[j] == ("other", ")"):
            depth -= 1
            if depth == 0:
                return j
    return None


def _convert(tokens: list[tuple[str, str]]) -> str:
    out: list[str] = []
    words: list[str] = []  # a run of plain words, set as one \text{...}

    def flush() -> None:
        if words:
            out.append(_text(" " + " ".join(words) + " "))  # math mode drops spaces; text keeps them
            words.clear()

    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "word" and len(text.split("_")[0]) > 1 and text not in FUNCTIONS \
                and tokens[i + 1 : i + 2] != [("other", "(")] and not (out and out[-1].rstrip() in (r"\star", "*") and text in MODE_WORDS):
            words.append(text)  # English inside a formula: "reshaped", "over the summed axes"
            i += 1
            # the run goes on over spaces while words follow ("a" included: "to a larger shape")
            while i + 1 < len(tokens) and tokens[i][0] == "space" and (
                    _is_prose(tokens, i + 1) or (tokens[i + 1][1] == "a" and i + 2 < len(tokens))):
                words.append(tokens[i + 1][1])
                i += 2
            continue
        if kind == "space":
            if words:  # spaces between words are kept inside the \text run
                i += 1
                continue
            out.append(" ")
            i += 1
            continue
        flush()
        if (kind, text) == ("other", "("):  # a remark in parentheses: "(c a number)" is text
            j = _closing(tokens, i)
            if j is not None and any(_is_prose(tokens, n) and len(tokens[n][1]) > 2 for n in range(i + 1, j)):
                out.append(_text("".join(t for _, t in tokens[i : j + 1])))
                i = j + 1
                continue
        if kind == "grad":
            out.append(r"\partial " + _symbol(tokens[i][1].split("/")[0][1:]) + r"/\partial "
                       + _symbol(tokens[i][1].split("/")[1][1:]))
        elif kind == "sum":
            sub = text[2:] if text.startswith("Σ_") else ""
            out.append(r"\sum" + ("_{" + _sub(sub) + "}" if sub else "") + " ")
        elif kind == "sqrt":
            arg, i = _group(tokens, i + 1)
            out.append(r"\sqrt{" + arg + "}")
            continue
        elif kind == "word":
            name = text.split("_")[0]
            if out and out[-1].rstrip() in (r"\star", "*") and text in MODE_WORDS:
                out[-1] = out[-1].rstrip() + r"_{\text{" + text + "}} "
            elif name in FUNCTIONS:
                out.append("\\" + name + " ")
            elif len(name) > 1:  # a function without a TeX name: rot180(K), softmax(X)
                base, _, sub = text.partition("_")
                out.append(r"\operatorname{" + base + "}" + ("_{" + _sub(sub) + "}" if sub else ""))
            else:
                out.append(_symbol(text))
        elif kind == "number":
            out.append(text)
        elif kind == "sup":
            arg, i = _group(tokens, i + 1)
            out.append("^{" + arg + "}")
            continue
        elif kind == "usup":
            out.append("^{" + SUPERSCRIPTS[text] + "}")
        elif text == "*":
            out.append("* ")
        elif text in SYMBOLS:
            out.append(SYMBOLS[text])
        elif text.isascii():
            out.append(text)
        else:  # a symbol without a TeX spelling here: shown as written
            out.append(r"\text{" + text + "}")
        i += 1
    flush()
    return "".join(out)


def to_tex(line: str) -> str:
    """The TeX for one formula line of an op's docstring (inline math, without delimiters)."""
    tokens = [(_kind(m), m.group()) for m in TOKEN.finditer(line.strip())]
    tex = _convert(tokens)
    return re.sub(r" {2,}", " ", tex).strip()


def _kind(m: re.Match) -> str:
    for name in ("grad", "sum", "sqrt", "word", "number", "sup", "usup", "space", "other"):
        if m.group(name) is not None:
            return name
    return "other"
