"""What ChatGPT shows of one message of its export, as Parley's plain message text.

ChatGPT's ``conversations.json`` holds far more than the conversation on screen: the context
given to the model (a hidden system message, custom instructions, memory), the model's
reasoning, and the plumbing of its tools (a search call, the pages it read, the note telling
the model an image was shown). :func:`shown_text` keeps what a user saw:

- text, and the text of a voice message (its transcription);
- images, audio and attached files as placeholders (``[image]``, ``[file: report.pdf]``):
  the files are not in ``conversations.json``, and Parley keeps text only;
- code the model ran in Python, with its output, and a canvas document it wrote whole;
- a tool's error and the images a tool made (``[image]``);
- answers without the private-use citation markers of web searches (a marker with a link
  becomes that link).

Everything else gives ``None`` and is counted in a :class:`Report` by kind, so the user is
told what was left out: reasoning, tool steps, and content types this reader does not know
(a new ChatGPT feature degrades to a count, not a failed import). Malformed values in what is
read (``parts`` that is not an array, a number among the parts) still raise
``TranscriptError``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from desktop.store.schema import ROLES
from desktop.transcripts.fields import Fields

_CONTEXT = frozenset({"user_editable_context", "model_editable_context"})
"""Custom instructions and memory: given to the model, never shown."""
_REASONING = frozenset({"thoughts", "reasoning_recap"})
_READ = frozenset({"text", "multimodal_text", "code"})
_SHOWN_FROM_TOOLS = frozenset({"execution_output", "multimodal_text", "system_error"})
"""A tool's output that ChatGPT shows: Python's output, made images, an error. The rest of
what tools return (pages read, quotes, notes to the model) is for the model."""
_CODE_TOOLS = frozenset({"python", "python_user_visible"})
_MEDIA = {
    "image_asset_pointer": "image",
    "audio_asset_pointer": "audio",
    "real_time_user_audio_video_asset_pointer": "audio",
    "video_container_asset_pointer": "video",
}
_NOUNS = {
    "image": ("image", "images"),
    "audio": ("audio clip", "audio clips"),
    "video": ("video", "videos"),
    "file": ("file", "files"),
}

_MARKER = re.compile("\ue200([^\ue200\ue201\ue202]{0,50})\ue202([^\ue200\ue201]{0,2000})\ue201")
"""A private-use citation or entity marker of newer answers: kind, then its payload."""
_OLD_CITATION = re.compile("【\\d+(?::\\d+)?†[^【】\\n]{0,200}】")
"""A citation of older browsing answers, e.g. ``【11†source】``."""
_STRAY = dict.fromkeys(map(ord, "\ue200\ue201\ue202\ue203\ue204\ue206"))
_LABEL = re.compile(r"[^A-Za-z0-9_.:-]+")
_LANGUAGE = re.compile(r"[A-Za-z0-9_+#.-]{1,30}")


class Kinds(Counter[str]):
    """Counts by kind, of at most :data:`MAX_KINDS` kinds: the kinds come from the file,
    which must not make this grow without end. Further kinds are counted as ``other``."""

    def __setitem__(self, key: str, value: int) -> None:
        if key not in self and len(self) >= MAX_KINDS:
            key, value = "other", self.get("other", 0) + value  # value: 0 plus the count
        super().__setitem__(key, value)


MAX_KINDS = 1000


@dataclass
class Report:
    """What an import left out or replaced, counted over the whole file, for the user."""

    placeholders: Kinds = field(default_factory=Kinds)
    """Attachments shown as a placeholder, by kind (image, audio, video, file, attachment)."""
    tool_steps: Kinds = field(default_factory=Kinds)
    """Tool calls and tool results left out, by tool name."""
    reasoning: int = 0
    """Messages of the model's reasoning left out."""
    unknown: Kinds = field(default_factory=Kinds)
    """Messages left out because this reader does not know their content type or author."""

    def warnings(self) -> tuple[str, ...]:
        """One line for each kind of thing left out or replaced; none for a plain export."""
        lines: list[str] = []
        if self.placeholders:
            kinds = ", ".join(
                _count(n, *_NOUNS.get(kind, ("attachment", "attachments")))
                for kind, n in self.placeholders.most_common()
            )
            lines.append(
                "Shown as placeholders such as [image] (Parley keeps the text of a chat, not "
                f"its files): {kinds}"
            )
        if self.tool_steps:
            steps = _count(self.tool_steps.total(), "tool step", "tool steps")
            lines.append(
                f"Left out {steps} that ChatGPT shows as a status line, not as a message "
                f"(searches, memory updates, …): {_listed(self.tool_steps)}"
            )
        if self.reasoning:
            steps = _count(self.reasoning, "reasoning step", "reasoning steps")
            lines.append(f"Left out {steps} of the model (folded away in ChatGPT)")
        if self.unknown:
            messages = _count(self.unknown.total(), "message", "messages")
            lines.append(
                f"Left out {messages} of a kind Parley cannot read yet: {_listed(self.unknown)}"
            )
        return tuple(lines)


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _listed(counts: Counter[str], most: int = 5) -> str:
    shown = [f"{name} ({n:,})" for name, n in counts.most_common(most)]
    if len(counts) > most:
        shown.append(f"{len(counts) - most} more")
    return ", ".join(shown)


def label(value: Any, unnamed: str = "?") -> str:
    """A name from the file (a tool, a content type) safe to show in one line."""
    if not isinstance(value, str):
        return unnamed
    return _LABEL.sub("_", value)[:40].strip("_") or unnamed


def fenced(text: str, language: str = "") -> str:
    """``text`` as a Markdown code block that its own backticks cannot close."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    if language == "unknown" or not _LANGUAGE.fullmatch(language):
        language = ""
    return f"{fence}{language}\n{text}\n{fence}"


def shown_text(
    f: Fields,
    where: str,
    role: str,
    author: dict[str, Any],
    message: dict[str, Any],
    metadata: dict[str, Any],
    report: Report,
) -> str | None:
    """The text ChatGPT shows for ``message``, or ``None`` where it shows nothing."""
    if metadata.get("is_visually_hidden_from_conversation") is True or role == "system":
        return None  # context for the model: ChatGPT never shows a system message
    if role not in ROLES:
        report.unknown[f"author {label(role)}"] += 1
        return None
    content = f.object(message.get("content"), f"{where}, 'content'")
    kind = f.text(content, "content_type", where, "text")
    if kind in _CONTEXT:
        return None
    if kind in _REASONING or message.get("channel") == "analysis":
        if kind != "reasoning_recap":  # "Thought for 8 seconds": the label of the thoughts
            report.reasoning += 1
        return None
    recipient = message.get("recipient")
    if role == "assistant" and recipient not in (None, "all"):
        text = _tool_call(kind, content, label(recipient))
        if text is None:
            report.tool_steps[label(recipient)] += 1
        return text
    if role == "tool" and kind not in _SHOWN_FROM_TOOLS:
        report.tool_steps[label(author.get("name"), "unnamed tool")] += 1
        return None
    if kind == "execution_output":
        output = _string(content, "text")
        return fenced(output) if output.strip() else None
    if kind == "system_error":
        return _string(content, "text").strip() or None
    if kind not in _READ:
        report.unknown[label(kind)] += 1
        return None
    text = _text(f, where, content, kind, metadata if role == "user" else {}, report)
    if role == "assistant":
        text = _without_markers(text, metadata)
    return text if text.strip() else None


def _tool_call(kind: str, content: dict[str, Any], tool: str) -> str | None:
    """The model calling a tool: ChatGPT shows the code it runs in Python and the canvas
    documents it writes; other calls (a search, a memory, an image's prompt) are a status
    line, ``None`` here."""
    call = _string(content, "text")
    if kind != "code" or not call.strip():
        return None
    if tool in _CODE_TOOLS:
        return fenced(call, "python")
    if tool.startswith("canmore."):
        return _canvas_document(call)
    return None


def _string(content: dict[str, Any], key: str) -> str:
    """A text of a tool's message, ``""`` when it has none: what tools write is not the
    conversation, and an odd value there is no reason to refuse a whole export."""
    value = content.get(key)
    return value if isinstance(value, str) else ""


def _canvas_document(call: str) -> str | None:
    """The document of a canvas call that writes it whole: ``{"name", "type", "content"}``
    creates one, ``{"updates": [{"pattern": ".*", "replacement"}]}`` rewrites it."""
    try:
        args = json.loads(call)
    except (ValueError, RecursionError):  # not JSON (or absurdly nested): not a document
        return None
    if not isinstance(args, dict):
        return None
    document = args.get("content")
    updates = args.get("updates")
    if document is None and isinstance(updates, list) and len(updates) == 1:
        update = updates[0]
        if isinstance(update, dict) and update.get("pattern") == ".*":
            document = update.get("replacement")
    if not isinstance(document, str) or not document.strip():
        return None
    kind = args.get("type")
    if isinstance(kind, str) and kind.startswith("code/"):
        return fenced(document, kind.removeprefix("code/"))
    return document


def _text(
    f: Fields,
    where: str,
    content: dict[str, Any],
    kind: str,
    metadata: dict[str, Any],
    report: Report,
) -> str:
    """The text of a ``text``, ``multimodal_text`` or ``code`` content, attachments as
    placeholders (the files a user attached are listed in ``metadata``)."""
    if kind == "code" and "parts" not in content:
        code = f.text(content, "text", where, "")
        language = content.get("language")
        return fenced(code, language if isinstance(language, str) else "") if code else ""
    if "parts" not in content:
        return f.text(content, "text", where, "")
    pieces: list[tuple[str, str | None]] = []  # (text, the kind of placeholder or None)
    pointers: set[str] = set()
    heard = False
    for part in f.array(content["parts"], f"{where}, 'parts'"):
        if isinstance(part, str):
            pieces.append((part, None))
        elif isinstance(part, dict):
            said = part.get("text")
            if isinstance(said, str):  # e.g. what was said in a voice message
                pieces.append((said, None))
                heard = heard or bool(said.strip())
                continue
            pointer = part.get("asset_pointer")
            if isinstance(pointer, str):
                pointers.add(pointer.rsplit("/", 1)[-1])
            media = _MEDIA.get(str(part.get("content_type")), "attachment")
            pieces.append((f"[{media}]", media))
        elif part is not None:
            f.fail(where, "'parts' must hold strings or objects")
    if heard:  # the recording of a voice message: its words are there
        pieces = [p for p in pieces if p[1] not in ("audio", "video")]
    files: list[tuple[str, str | None]] = [
        (f"[file: {name}]", "file") for name in _attached_files(metadata, pointers)
    ]
    pieces = files + pieces
    for _, placeholder in pieces:
        if placeholder is not None:
            report.placeholders[placeholder] += 1
    return "\n\n".join(text for text, _ in pieces if text)


def _attached_files(metadata: dict[str, Any], pointers: set[str]) -> list[str]:
    """The names of the files a user attached, but for the images already in the parts."""
    attachments = metadata.get("attachments")
    if not isinstance(attachments, list):
        return []
    names: list[str] = []
    for item in attachments:
        if not isinstance(item, dict) or item.get("id") in pointers:
            continue
        name = item.get("name")
        if isinstance(name, str) and name.strip():
            names.append(" ".join(name.split())[:100])
    return names


def _without_markers(text: str, metadata: dict[str, Any]) -> str:
    """An answer without the citation markers ChatGPT draws as links: a marker that
    ``metadata.content_references`` gives a text for (``alt``, e.g. a Markdown link) becomes
    that text, an entity its name, other markers nothing."""
    if not any(mark in text for mark in "\ue200\ue203\ue204\ue206【"):
        return text
    alts: dict[str, str] = {}
    references = metadata.get("content_references")
    for reference in references if isinstance(references, list) else []:
        if isinstance(reference, dict) and isinstance(reference.get("matched_text"), str):
            alt = reference.get("alt")
            alts[reference["matched_text"]] = alt if isinstance(alt, str) else ""

    def marker(found: re.Match[str]) -> str:
        if found.group(0) in alts:
            return alts[found.group(0)]
        if found.group(1) == "entity":  # ["city", "Paris", ...]: shown as its name
            try:
                entity = json.loads(found.group(2))
            except (ValueError, RecursionError):
                return ""
            if isinstance(entity, list) and len(entity) > 1 and isinstance(entity[1], str):
                return entity[1]
        return ""

    def old(found: re.Match[str]) -> str:
        return alts.get(found.group(0), "")

    return _OLD_CITATION.sub(old, _MARKER.sub(marker, text)).translate(_STRAY)
