# ruff: noqa: RUF001  (Greek letters and math symbols are the point of the LaTeX table)
"""Markdown -> the HTML subset that QTextBrowser renders.

markdown-it-py parses (CommonMark plus tables and strikethrough, and bare web addresses become
links as GitHub's Markdown makes them: ``https://…``, ``www.…`` and e-mail addresses, never a
file name such as ``main.py``: ``_link_web_addresses``); code blocks are highlighted by
Pygments with inline styles (Qt's rich text has no stylesheet classes worth relying on) and get a
"Copy" link; LaTeX math (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) is shown as readable
text: Greek letters and operators as Unicode, sub/superscripts as <sub>/<sup>, fractions as a/b.
No TeX engine, no heavy dependency.

For streaming, ``split_stable`` finds where the finished blocks of a growing answer end, so only
the unfinished tail is re-rendered on every repaint.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

# markdown-it and Pygments load with the first renderer (``warm_up`` does that off the GUI
# thread after the window is shown), not when the window opens: ~100 ms of start-up.
if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.rules_block import StateBlock
    from markdown_it.rules_core import StateCore
    from markdown_it.rules_inline import StateInline

COPY_SCHEME = "copy-code"


def copied_code(url: str, blocks: Sequence[str]) -> str | None:
    """The code block a "Copy code" link (``copy-code:N``) names, or None for another link."""
    scheme, _, index = url.partition(":")
    if scheme == COPY_SCHEME and index.isdigit() and int(index) < len(blocks):
        return blocks[int(index)]
    return None


@dataclass(frozen=True)
class Palette:
    """Colours the renderer needs; the widgets pass the ones of the current theme."""

    dark: bool = False
    text: str = "#1f2328"
    muted: str = "#57606a"
    code_bg: str = "#f3f4f6"
    border: str = "#d0d7de"
    link: str = "#0550ae"
    math: str = "#6639ba"

    @property
    def pygments_style(self) -> str:
        return "github-dark" if self.dark else "default"


LIGHT = Palette()
DARK = Palette(
    dark=True,
    text="#e6edf3",
    muted="#9da7b3",
    code_bg="#161b22",
    border="#3d444d",
    link="#58a6ff",
    math="#d2a8ff",
)


@dataclass
class Rendered:
    html: str
    code_blocks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Segment:
    """A run of Markdown (``code`` is None) or one top-level fenced code block, with its
    place ``[start, end)`` in the text it was cut from. Code blocks inside lists or quotes
    stay in their Markdown run."""

    start: int
    end: int
    code: str | None = None
    lang: str = ""
    closed: bool = True

    @property
    def dangling(self) -> bool:
        """An opening fence with nothing after it: a finished answer that ends this way
        (small models often do) shows nothing for it rather than an empty code block."""
        return self.code is not None and not self.closed and not self.code.strip()


def fence_code(content: str) -> str:
    """The code of a fence as shown and copied: its content without the final newline."""
    return content[:-1] if content.endswith("\n") else content


# -- LaTeX to readable text ---------------------------------------------------------------
_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    "sum": "∑", "prod": "∏", "int": "∫", "oint": "∮", "infty": "∞", "partial": "∂",
    "nabla": "∇", "cdot": "·", "times": "×", "div": "÷", "pm": "±", "mp": "∓",
    "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "approx": "≈",
    "equiv": "≡", "sim": "∼", "propto": "∝", "to": "→", "rightarrow": "→", "leftarrow": "←",
    "Rightarrow": "⇒", "Leftarrow": "⇐", "leftrightarrow": "↔", "Leftrightarrow": "⇔",
    "mapsto": "↦", "in": "∈", "notin": "∉", "subset": "⊂", "subseteq": "⊆", "cup": "∪",
    "cap": "∩", "emptyset": "∅", "forall": "∀", "exists": "∃", "neg": "¬", "land": "∧",
    "lor": "∨", "ldots": "…", "cdots": "⋯", "dots": "…", "circ": "∘", "degree": "°",
    "angle": "∠", "perp": "⊥", "parallel": "∥", "hbar": "ℏ", "ell": "ℓ", "Re": "ℜ", "Im": "ℑ",
    "langle": "⟨", "rangle": "⟩", "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉",
    "quad": "\u2003", "qquad": "\u2003\u2003", ",": "\u2009", ";": "\u2005", "!": "",
    " ": " ", "{": "{", "}": "}", "log": "log", "ln": "ln", "exp": "exp", "sin": "sin",
    "cos": "cos", "tan": "tan", "lim": "lim", "max": "max", "min": "min", "det": "det",
}  # fmt: skip
_DROP = {"left", "right", "displaystyle", "textstyle", "big", "Big", "bigg", "Bigg", "limits"}
_STYLE_CMDS = {
    "mathbf", "mathrm", "mathit", "mathcal", "mathbb", "text", "textbf", "operatorname",
    "boldsymbol", "mathsf", "mathtt", "vec", "hat", "bar", "overline", "tilde",
}  # fmt: skip


def _group(src: str, i: int) -> tuple[str, int]:
    """The argument starting at src[i]: a {braced group} or a single token."""
    while i < len(src) and src[i] == " ":
        i += 1
    if i >= len(src):
        return "", i
    if src[i] == "{":
        depth, j = 0, i
        while j < len(src):
            depth += {"{": 1, "}": -1}.get(src[j], 0)
            if depth == 0:
                return src[i + 1 : j], j + 1
            j += 1
        return src[i + 1 :], len(src)
    if src[i] == "\\":
        m = re.match(r"\\([A-Za-z]+|.)", src[i:])
        assert m is not None
        return m.group(0), i + len(m.group(0))
    return src[i], i + 1


def _wrap(text: str) -> str:
    return text if len(text) <= 1 or text.startswith("(") else f"({text})"


def latex_to_html(src: str) -> str:
    """Turn TeX math into escaped HTML that reads well; unknown commands stay as written."""
    out: list[str] = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", src[i:])
            name = m.group(1) if m else ""
            i += len(name) + 1
            if name in ("frac", "dfrac", "tfrac"):
                num, i = _group(src, i)
                den, i = _group(src, i)
                out.append(f"{_wrap(latex_to_html(num))}/{_wrap(latex_to_html(den))}")
            elif name == "sqrt":
                arg, i = _group(src, i)
                out.append(f"√{_wrap(latex_to_html(arg))}")
            elif name in _STYLE_CMDS:
                arg, i = _group(src, i)
                inner = latex_to_html(arg)
                out.append(f"<b>{inner}</b>" if name in ("mathbf", "boldsymbol") else inner)
            elif name in _DROP:
                continue
            elif name in _SYMBOLS:
                out.append(_SYMBOLS[name])
            elif name == "\\":
                out.append("<br>")
            else:
                out.append(html.escape("\\" + name))
        elif ch in "^_":
            arg, i = _group(src, i + 1)
            tag = "sup" if ch == "^" else "sub"
            out.append(f"<{tag}>{latex_to_html(arg)}</{tag}>")
        elif ch in "{}":
            i += 1
        elif ch == "&":
            out.append(" ")
            i += 1
        else:
            out.append(html.escape(ch))
            i += 1
    return "".join(out)


def _math_inline(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if src.startswith("\\(", pos):
        opener, closer = "\\(", "\\)"
    elif src.startswith("\\[", pos):
        opener, closer = "\\[", "\\]"
    elif src.startswith("$$", pos):
        opener, closer = "$$", "$$"
    elif src[pos] == "$":
        opener, closer = "$", "$"
        # "$5 and $10" is money, not math: the content must not start with a space and the
        # closing $ must not be followed by a digit
        if pos + 1 >= state.posMax or src[pos + 1] in " \t\n":
            return False
    else:
        return False
    start = pos + len(opener)
    end = src.find(closer, start)
    while end != -1 and src[end - 1] == "\\":
        end = src.find(closer, end + 1)
    if end == -1 or end == start or end > state.posMax:
        return False
    if opener == "$" and (src[end - 1] in " \t" or src[end + 1 : end + 2].isdigit()):
        return False
    if not silent:
        token = state.push("math_display" if opener in ("$$", "\\[") else "math_inline", "", 0)
        token.content = src[start:end]
    state.pos = end + len(closer)
    return True


def _math_block(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    begin = state.bMarks[start_line] + state.tShift[start_line]
    line = state.src[begin : state.eMarks[start_line]]
    opener = "$$" if line.startswith("$$") else "\\[" if line.startswith("\\[") else ""
    if not opener:
        return False
    closer = "$$" if opener == "$$" else "\\]"
    rest = line[len(opener) :]
    if closer in rest:  # one line: $$ x $$
        if rest.rstrip().endswith(closer) and not silent:
            token = state.push("math_display", "", 0)
            token.content = rest.rstrip()[: -len(closer)]
            state.line = start_line + 1
            return True
        return False
    body = [rest]
    line_no = start_line + 1
    while line_no < end_line:
        text = state.src[state.bMarks[line_no] + state.tShift[line_no] : state.eMarks[line_no]]
        if text.rstrip().endswith(closer):
            body.append(text.rstrip()[: -len(closer)])
            if not silent:
                token = state.push("math_display", "", 0)
                token.content = "\n".join(body)
                token.map = [start_line, line_no + 1]
            state.line = line_no + 1
            return True
        body.append(text)
        line_no += 1
    return False


_PYGMENTS_IMPORT = threading.Lock()


def load_pygments() -> None:
    """Import ``pygments.lexers`` and ``pygments.formatters`` once, one thread at a time.

    Both packages swap themselves in ``sys.modules`` for a lazily loading module at the end of
    their import: a second thread importing them meanwhile can be handed the module from
    before the swap, which lacks the lazy names ("cannot import name 'HtmlFormatter'"). The
    warm-up thread and the GUI thread (a chat opened right after start) both get here first.
    """
    with _PYGMENTS_IMPORT:
        import pygments.formatters
        import pygments.lexers  # noqa: F401


# Bare web addresses, as GitHub's Markdown links them: ``http://``, ``https://`` or ``www.``
# after a space or an opening mark, up to the next space or "<", and e-mail addresses. Never a
# bare file name ("main.py", "notes.md"); never inside code or a written link (those are other
# tokens). One regular expression over the text tokens: linkify-it-py, which also finds these,
# took ~100 ms on the GUI thread for an answer of 29,000 characters with 360 addresses; this
# takes about what markdown-it spends on as many written links (bench/RESULTS.md, UI).
_WEB_LINK = re.compile(
    r"(?<![^\s*_~(\[\"'“‘])(?P<url>(?:https?://|www\.)[^\s<]+)"
    r"|(?<![\w.+-])(?P<email>[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)",
    re.IGNORECASE,
)
_URL_HOST = re.compile(r"(?:https?://|www\.)([\w-]+(?:\.[\w-]+)*)(?::\d+)?(?=[/?#]|$)", re.I)
_TRAILING = "?!.,:;*_~'\""


def _trimmed_url(url: str) -> str:
    """The address without what ends the sentence around it: trailing punctuation, and a
    closing parenthesis that has no opening one in the address ("(see https://x.org)")."""
    unbalanced = url.count(")") - url.count("(")
    while url and (url[-1] in _TRAILING or (url[-1] == ")" and unbalanced > 0)):
        unbalanced -= url[-1] == ")"
        url = url[:-1]
    return url


def _web_links(text: str) -> list[tuple[int, int, str]]:
    """(start, end, href) of each bare web or e-mail address in ``text``."""
    if "://" not in text and "www." not in text.lower() and "@" not in text:
        return []
    found: list[tuple[int, int, str]] = []
    for match in _WEB_LINK.finditer(text):
        start = match.start()
        if match.group("url") is not None:
            url = _trimmed_url(match.group("url"))
            host = _URL_HOST.match(url)
            if host is None or (url.lower().startswith("www.") and "." not in host.group(1)):
                continue  # not an address: "www." alone, "http://" with nothing after it
            href = url if "://" in url else "http://" + url
        else:
            url = match.group("email").rstrip(".")
            if url[-1] in "-_":
                continue
            href = "mailto:" + url
        found.append((start, start + len(url), href))
    return found


def _link_web_addresses(state: StateCore) -> None:
    """Core rule (before text_join, so that an escaped ``http\\://`` stays text): bare
    addresses in the text of every inline token become links."""
    from markdown_it.token import Token

    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        depth = 0  # inside a written link: its text stays as written
        for token in block.children:
            if token.type == "link_open":
                depth += 1
            elif token.type == "link_close":
                depth -= 1
            links = _web_links(token.content) if token.type == "text" and not depth else []
            if not links:
                children.append(token)
                continue
            text, done = token.content, 0
            for start, end, href in links:
                if start > done:
                    children.append(_text_token(text[done:start], token.level))
                opened = Token("link_open", "a", 1)
                opened.attrs = {"href": state.md.normalizeLink(href)}
                opened.markup, opened.info, opened.level = "linkify", "auto", token.level
                children.append(opened)
                children.append(_text_token(text[start:end], token.level + 1))
                closed = Token("link_close", "a", -1)
                closed.markup, closed.info, closed.level = "linkify", "auto", token.level
                children.append(closed)
                done = end
            if done < len(text):
                children.append(_text_token(text[done:], token.level))
        block.children = children


def _text_token(content: str, level: int) -> Any:
    from markdown_it.token import Token

    token = Token("text", "", 0)
    token.content, token.level = content, level
    return token


class MarkdownRenderer:
    """Renders Markdown for one palette. ``render`` is pure: same text, same HTML."""

    def __init__(self, palette: Palette = LIGHT) -> None:
        load_pygments()
        from markdown_it import MarkdownIt
        from pygments.formatters import HtmlFormatter

        self.palette = palette
        self._formatter = HtmlFormatter(style=palette.pygments_style, noclasses=True, nowrap=True)
        md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        md.enable(["table", "strikethrough"])
        md.core.ruler.before("text_join", "web_links", _link_web_addresses)
        md.inline.ruler.before("escape", "math_inline", _math_inline)
        md.block.ruler.before(
            "fence", "math_block", _math_block, {"alt": ["paragraph", "blockquote", "list"]}
        )
        self._rule(md, "fence", self._fence)
        self._rule(md, "code_block", self._fence)
        self._rule(md, "code_inline", self._code_inline)
        self._rule(md, "math_inline", self._math_inline)
        self._rule(md, "math_display", self._math_display)
        self._rule(md, "table_open", self._table_open)
        self._rule(md, "th_open", self._cell_open)
        self._rule(md, "td_open", self._cell_open)
        self._md = md

    @staticmethod
    def _rule(md: MarkdownIt, name: str, method: Any) -> None:
        # markdown-it binds a rule to its renderer (first argument); ours are bound to self
        md.add_render_rule(name, lambda _renderer, *args: method(*args))

    def segments(self, text: str) -> list[Segment]:
        """Cut ``text`` at its top-level fenced code blocks (see ``Segment``)."""
        lines = text.splitlines(keepends=True)
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line))
        out: list[Segment] = []
        pos = 0
        for token in self._md.parse(text):
            if token.type != "fence" or token.level != 0 or token.map is None:
                continue
            first, last = token.map
            start, end = offsets[first], offsets[min(last, len(lines))]
            if start > pos:
                out.append(Segment(pos, start))
            closer = lines[last - 1].strip() if last - first >= 2 else ""
            closed = (
                bool(closer)
                and set(closer) == {token.markup[0]}
                and (len(closer) >= len(token.markup))
            )
            lang = (token.info or "").strip().split(" ")[0]
            out.append(Segment(start, end, fence_code(token.content), lang, closed))
            pos = end
        if pos < len(text):
            out.append(Segment(pos, len(text)))
        return out

    def render(self, text: str, first_code_index: int = 0) -> Rendered:
        env: dict[str, Any] = {"code_blocks": [], "first": first_code_index}
        body = self._md.render(text, env)
        return Rendered(body, env["code_blocks"])

    # -- render rules (markdown-it calls them as rule(tokens, idx, options, env)) ----------
    def _fence(self, tokens: Any, idx: int, options: Any, env: dict[str, Any]) -> str:
        from pygments import highlight
        from pygments.lexers import TextLexer, get_lexer_by_name
        from pygments.util import ClassNotFound

        token = tokens[idx]
        code = token.content
        lang = (token.info or "").strip().split(" ")[0] if token.type == "fence" else ""
        blocks: list[str] = env["code_blocks"]
        index = env["first"] + len(blocks)
        blocks.append(fence_code(code))
        try:
            lexer = get_lexer_by_name(lang) if lang else TextLexer()
        except ClassNotFound:
            lexer = TextLexer()
        highlighted = highlight(code, lexer, self._formatter).rstrip("\n")
        p = self.palette
        label = html.escape(lang or "code")
        return (
            f'<table width="100%" cellspacing="0" cellpadding="6" '
            f'style="background-color:{p.code_bg}; border: 1px solid {p.border}; '
            f'margin-top:4px; margin-bottom:8px;">'
            f'<tr><td style="color:{p.muted}; font-size:small;">{label}</td>'
            f'<td align="right" style="font-size:small;">'
            f'<a href="{COPY_SCHEME}:{index}" title="Copy this code">Copy code</a></td></tr>'
            f'<tr><td colspan="2"><pre style="margin:0; font-family: monospace;">'
            f"{highlighted}</pre></td></tr></table>\n"
        )

    def _code_inline(self, tokens: Any, idx: int, options: Any, env: dict[str, Any]) -> str:
        p = self.palette
        return (
            f'<code style="background-color:{p.code_bg}; font-family: monospace;">'
            f"{html.escape(tokens[idx].content)}</code>"
        )

    def _math_inline(self, tokens: Any, idx: int, options: Any, env: dict[str, Any]) -> str:
        return (
            f'<span style="font-family: serif; font-style: italic; color:{self.palette.math};">'
            f"{latex_to_html(tokens[idx].content.strip())}</span>"
        )

    def _math_display(self, tokens: Any, idx: int, options: Any, env: dict[str, Any]) -> str:
        return (
            f'<p align="center" style="font-family: serif; font-style: italic; '
            f'font-size: large; color:{self.palette.math};">'
            f"{latex_to_html(tokens[idx].content.strip())}</p>\n"
        )

    def _table_open(self, tokens: Any, idx: int, options: Any, env: dict[str, Any]) -> str:
        return (
            f'<table cellspacing="0" cellpadding="5" border="1" '
            f'style="border-collapse: collapse; border-color:{self.palette.border}; '
            f'margin-bottom:8px;">\n'
        )

    def _cell_open(self, tokens: Any, idx: int, options: Any, env: dict[str, Any]) -> str:
        token = tokens[idx]
        style = token.attrGet("style") or ""
        align = {"text-align:left": "left", "text-align:right": "right",
                 "text-align:center": "center"}.get(str(style), "")  # fmt: skip
        attr = f' align="{align}"' if align else ""
        return f"<{token.tag}{attr}>"


@lru_cache(maxsize=4)
def renderer_for(palette: Palette) -> MarkdownRenderer:
    return MarkdownRenderer(palette)


_WARM_UP = "# x\n\n*a* `b` $c^2$\n\n| a |\n|---|\n| 1 |\n\n```python\nx = 1\n```\n"


def warm_up(palette: Palette) -> None:
    """Build the renderer and load the Pygments lexers answers use most, before the first
    answer streams (the first Python block otherwise costs ~80 ms of imports mid-stream)."""
    load_pygments()
    from pygments.lexers import get_lexer_by_name

    renderer = renderer_for(palette)
    renderer.render(_WARM_UP)
    for lang in ("python", "bash", "javascript", "json", "c", "cpp", "rust", "html"):
        get_lexer_by_name(lang)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def split_stable(text: str) -> int:
    """Length of the prefix of a growing Markdown text whose blocks are finished.

    A block is finished once a blank line follows it outside a code fence or a display-math
    block, or once a code fence that starts in the first column is closed (nothing after it
    can belong to it); rendering the prefix on its own then gives the same HTML as it will have
    in the whole. The rest (the tail) is still being written and is re-rendered on every
    repaint.
    """
    stable = 0
    pos = 0
    fence: str | None = None
    fence_at_margin = False
    in_math = False
    for line in text.splitlines(keepends=True):
        pos += len(line)
        if not line.endswith("\n"):
            break  # the last, unfinished line
        stripped = line.strip()
        m = _FENCE.match(line)
        if fence is not None:
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and (stripped == m.group(1))
            ):
                if fence_at_margin and not line[0].isspace():
                    stable = pos
                fence = None
        elif in_math:
            if stripped.endswith("$$") or stripped.endswith("\\]"):
                in_math = False
        elif m:
            fence = m.group(1)
            fence_at_margin = not line[0].isspace()
        elif stripped in ("$$", "\\[") or (
            stripped.startswith("$$") and not stripped[2:].rstrip().endswith("$$")
        ):
            in_math = True
        elif not stripped:
            stable = pos
    return stable


def open_fence(text: str) -> int | None:
    """Where an unclosed fenced code block starts in ``text`` (the offset of its opening
    line), when the text ends inside one; else None. Cheap: a line scan, no parse."""
    pos = 0
    fence: str | None = None
    start = 0
    for line in text.splitlines(keepends=True):
        m = _FENCE.match(line)
        if fence is None:
            if m:
                fence, start = m.group(1), pos
        elif (
            m
            and m.group(1)[0] == fence[0]
            and len(m.group(1)) >= len(fence)
            and line.strip() == m.group(1)
        ):
            fence = None
        pos += len(line)
    return start if fence is not None else None
