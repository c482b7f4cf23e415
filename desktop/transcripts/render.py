"""Human-readable transcripts of the branch shown: Markdown, plain text, HTML.

HTML is self-contained and inert: messages are rendered from Markdown as the window shows
them (lists, tables, emphasis) with raw HTML kept as text, every other piece of conversation
text (titles, model names) is escaped, code blocks are highlighted by Pygments (which escapes
its input), nothing refers to another file or to the network (a link shows its address), and
a Content-Security-Policy forbids scripts and remote loads even if something slipped through.
The same HTML, with inline styles, is what the PDF writer lays out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from desktop.store.transcripts import TreeConversation, TreeMessage

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; font-src 'none'; "
    "connect-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)

_ROLE_LABELS = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool"}
_STATUS_NOTES = {"stopped": "stopped", "error": "failed", "interrupted": "interrupted"}
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([A-Za-z0-9_+#.-]{0,40})[^`]*$")


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def label(message: TreeMessage) -> str:
    """``Assistant · model-name (stopped)``: who wrote it, with what, how it ended."""
    text = _ROLE_LABELS.get(message.role, message.role)
    if message.role == "assistant" and message.model:
        text += f" · {message.model}"
    note = _STATUS_NOTES.get(message.status)
    return f"{text} ({note})" if note else text


def _summary(conversation: TreeConversation, shown: list[TreeMessage]) -> str:
    parts = [f"Exported from Parley on {_when(datetime.now().timestamp())}"]
    parts.append(f"started {_when(conversation.created_at)}")
    parts.append(f"{len(shown)} message{'s' if len(shown) != 1 else ''}")
    return " · ".join(parts)


def _branch_note(conversation: TreeConversation) -> str | None:
    branches = conversation.branch_count
    if branches <= 1:
        return None
    return (
        f"This conversation has {branches} branches; the one on screen is shown. "
        "Export it as Parley JSON to keep them all."
    )


# ---------------------------------------------------------------------------- plain formats


def to_markdown(conversation: TreeConversation) -> str:
    shown = conversation.shown_branch()
    lines = [f"# {conversation.title}", "", f"*{_summary(conversation, shown)}*", ""]
    note = _branch_note(conversation)
    if note:
        lines += [f"*{note}*", ""]
    if conversation.system_prompt:
        lines += ["## System prompt", "", conversation.system_prompt, ""]
    for message in shown:
        lines += [f"## {label(message)}", "", _fences_closed(message.content), ""]
    return "\n".join(lines)


def _fences_closed(text: str) -> str:
    """``text`` with a code block it left open (an answer cut off inside one) closed, so
    that the headings and messages after it in the file are not read as its code."""
    fence: str | None = None
    for line in text.split("\n"):
        if fence is None:
            match = _FENCE.match(line)
            if match:
                fence = match.group(1)
        elif _closes(line, fence):
            fence = None
    if fence is None:
        return text
    return text + ("" if text.endswith("\n") else "\n") + fence


def to_text(conversation: TreeConversation) -> str:
    shown = conversation.shown_branch()
    lines = [
        conversation.title,
        "=" * max(3, len(conversation.title)),
        _summary(conversation, shown),
    ]
    note = _branch_note(conversation)
    if note:
        lines.append(note)
    lines.append("")
    if conversation.system_prompt:
        lines += ["System prompt:", conversation.system_prompt, ""]
    for message in shown:
        lines += [f"{label(message)}:", message.content, ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- HTML


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` closes a code block opened with ``fence``."""
    stripped = line.strip()
    return stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0])


def blocks(text: str) -> Iterator[tuple[str | None, str]]:
    """Split message text into ``(None, prose)`` and ``(language, code)`` pieces at fenced
    code blocks (```lang ... ```). An unclosed fence runs to the end."""
    prose: list[str] = []
    code: list[str] = []
    fence: str | None = None
    language = ""
    for line in text.split("\n"):
        if fence is None:
            match = _FENCE.match(line)
            if match:
                if prose:
                    yield None, "\n".join(prose)
                    prose = []
                fence, language = match.group(1), match.group(2)
            else:
                prose.append(line)
        elif _closes(line, fence):
            yield language, "\n".join(code)
            fence, code = None, []
        else:
            code.append(line)
    if fence is not None:
        yield language, "\n".join(code)
    elif prose:
        yield None, "\n".join(prose)


@lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer:
    try:
        return get_lexer_by_name(language.lower(), stripnl=False) if language else TextLexer()
    except ClassNotFound:
        return TextLexer()


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    """Markdown as the window shows it (CommonMark, tables, strikethrough), made inert: raw
    HTML is text, a picture is its description, and a link is its text followed by its
    address (nothing in the page refers to the network, not even a link)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable(["image"])

    def link_open(tokens: Any, idx: int, _options: Any, env: dict[str, Any]) -> str:
        env.setdefault("links", []).append(str(tokens[idx].attrGet("href") or ""))
        return ""

    def link_close(_tokens: Any, _idx: int, _options: Any, env: dict[str, Any]) -> str:
        address = env["links"].pop()
        return f' <span class="url">({html.escape(address)})</span>' if address else ""

    md.add_render_rule("link_open", lambda _renderer, *args: link_open(*args))
    md.add_render_rule("link_close", lambda _renderer, *args: link_close(*args))
    return md


def _prose_html(text: str) -> str:
    """Prose rendered from Markdown (lists, tables, emphasis, `inline code`), inert."""
    return str(_markdown().render(text, {}))


def message_html(text: str, formatter: HtmlFormatter) -> str:
    out: list[str] = []
    for language, body in blocks(text):
        if language is None:
            if body.strip():
                out.append(f'<div class="md">{_prose_html(body.strip(chr(10)))}</div>')
        else:
            name = f'<div class="lang">{html.escape(language)}</div>' if language else ""
            out.append(
                f'<div class="code">{name}{highlight(body, _lexer(language), formatter)}</div>'
            )
    return "\n".join(out)


_PAGE_CSS = """
body { margin: 0; background: #f7f7f8; color: #1f2328;
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 52rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
.meta, .note { color: #59636e; font-size: .85rem; margin: 0 0 .5rem; }
.message { background: #fff; border: 1px solid #d8dee4; border-radius: 10px;
  padding: .75rem 1rem; margin: 1rem 0; }
.message.user { background: #eef4ff; border-color: #c7d7f5; }
.message.system { background: #fff8e6; border-color: #ecd9a5; }
.role { font-size: .8rem; font-weight: 600; color: #59636e; margin: 0 0 .35rem;
  text-transform: none; }
.prose { white-space: pre-wrap; overflow-wrap: anywhere; margin: .35rem 0; }
.md { overflow-wrap: anywhere; margin: .35rem 0; }
.md p, .md ul, .md ol, .md blockquote { margin: .35rem 0; }
.md table { border-collapse: collapse; margin: .5rem 0; }
.md th, .md td { border: 1px solid #d8dee4; padding: .25rem .6rem; text-align: left; }
.md blockquote { border-left: 3px solid #d8dee4; padding-left: .75rem; color: #59636e; }
.url { color: #59636e; font-size: .9em; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: rgba(127,127,127,.13); padding: .05em .3em; border-radius: 4px; }
.code { margin: .5rem 0; border: 1px solid #d8dee4; border-radius: 8px; overflow: hidden; }
.code .lang { font-size: .75rem; color: #59636e; background: #eef0f2; padding: .2rem .75rem; }
.code pre { margin: 0; padding: .75rem; overflow-x: auto; white-space: pre;
  font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
@media (prefers-color-scheme: dark) {
  body { background: #16181c; color: #e6e8eb; }
  .message { background: #1f2227; border-color: #343941; }
  .message.user { background: #1d2738; border-color: #2f3f5c; }
  .message.system { background: #2b2618; border-color: #4d4226; }
  .meta, .note, .role, .code .lang { color: #9aa4ae; }
  .code { border-color: #343941; } .code .lang { background: #262a30; }
}
@media print { body { background: #fff; } .message { break-inside: avoid; } }
"""


def _document(conversation: TreeConversation, formatter: HtmlFormatter, head: str) -> str:
    shown = conversation.shown_branch()
    title = html.escape(conversation.title)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        head,
        f"<title>{title}</title>",
        "</head>",
        "<body><main>",
        f"<h1>{title}</h1>",
        f'<p class="meta">{html.escape(_summary(conversation, shown))}</p>',
    ]
    note = _branch_note(conversation)
    if note:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    if conversation.system_prompt:
        parts.append(
            '<div class="message system"><p class="role">System prompt</p>'
            f'<div class="prose">{html.escape(conversation.system_prompt)}</div></div>'
        )
    for message in shown:
        role = message.role if message.role in _ROLE_LABELS else "other"
        parts.append(
            f'<div class="message {role}"><p class="role">{html.escape(label(message))}</p>'
            f"{message_html(message.content, formatter)}</div>"
        )
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def to_html(conversation: TreeConversation) -> str:
    """A self-contained, script-free web page of the branch shown."""
    formatter: HtmlFormatter = HtmlFormatter(cssclass="hl", style="default")
    css = _PAGE_CSS + formatter.get_style_defs(".hl")
    head = "\n".join(
        [
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="referrer" content="no-referrer">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="generator" content="Parley">',
            f"<style>{css}</style>",
        ]
    )
    return _document(conversation, formatter, head)


_PRINT_CSS = """
body { font-family: sans-serif; font-size: 10pt; color: #1f2328; }
h1 { font-size: 16pt; }
.meta, .note { color: #59636e; font-size: 8pt; }
.message { margin-top: 10pt; }
.role { font-weight: bold; color: #3b4450; font-size: 9pt; margin-bottom: 2pt; }
.prose { white-space: pre-wrap; }
.url { color: #59636e; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: 3px; }
th { background-color: #eef0f2; }
code { font-family: monospace; background-color: #eef0f2; }
.lang { color: #59636e; font-size: 8pt; }
pre { font-family: monospace; font-size: 8.5pt; background-color: #f4f6f8; }
"""


def to_print_html(conversation: TreeConversation) -> str:
    """The same transcript for Qt's rich-text engine (PDF): inline highlight colours and
    wrapping code, as Qt supports only part of CSS."""
    formatter: HtmlFormatter = HtmlFormatter(
        noclasses=True, style="default", prestyles="white-space: pre-wrap"
    )
    return _document(conversation, formatter, f"<style>{_PRINT_CSS}</style>")
