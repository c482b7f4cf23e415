"""``parley ...``: headless commands over the domain packages.

Every failure a user can cause ends in one line on stderr and a non-zero exit code: 1 for an
error, 130 for Ctrl-C (after the answer so far), 141 when the reader of the output went away
(``parley ask ... | head -c1``, as a shell reports a program that SIGPIPE ended). ``ask --json``
prints its one JSON object in every case, with ``error`` set when it failed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, cast

from desktop.attachments import (
    MAX_BYTES,
    MAX_CHARS,
    Attachment,
    AttachmentError,
    attachment_from_bytes,
    read_attachment,
)
from desktop.convert.errors import ConversionError
from desktop.engine.bundle import SAMPLING_KEYS
from desktop.engine.providers import display_name
from desktop.engine.types import (
    ChatMessage,
    ContextTrimmed,
    Finished,
    PromptProgress,
    SamplingParams,
    TextDelta,
)
from desktop.store import (
    Conversation,
    FinalStatus,
    KnownError,
    Message,
    NotFoundError,
    Store,
)
from desktop.store.recording import (
    SYSTEM_PROMPT_KEY,
    can_continue,
    put_back,
    status_of,
    title_from,
)
from desktop.terminal import ProgressBar, output_path

if TYPE_CHECKING:
    from desktop.feedback.content_filter import Moderator
    from desktop.feedback.records import ModerationResult
    from desktop.feedback.repository import FeedbackStore

EXIT_ERROR = 1
EXIT_CANCELLED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
CONTINUABLE = ("length", "cancelled", "repetition")  # answers /continue may go on with


class CliError(Exception):
    """One line for the user, exit code 1."""


def _os_error_text(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


# -- models -------------------------------------------------------------------------------
def _library() -> Any:
    from desktop.convert.library import ModelLibrary

    return ModelLibrary()


def _damage(path: Path) -> str | None:
    from desktop.engine.integrity import model_damage

    return model_damage(path)


@contextlib.contextmanager
def _changing_models(what: str) -> Iterator[None]:
    """The models folder cannot be written (read-only, not a folder, full): one line."""
    try:
        yield
    except OSError as exc:
        raise CliError(f"cannot {what}: {_os_error_text(exc)}") from exc


def cmd_models(args: argparse.Namespace) -> int:
    lib = _library()
    action = args.action
    if action == "list":
        models = lib.list()
        if not models:
            print("No models installed. Run: parley models install starter")
        for m in models:
            mark = "*" if m.is_default else " "
            print(
                f"{mark} {m.name:<32} {m.manifest.get('precision', '?'):<16} "
                f"{m.size_bytes / 1e6:7.1f} MB"
            )
            damage = _damage(Path(m.path))
            if damage is not None:
                print(f"    damaged: {damage}")
        return 0
    if action == "install":
        if args.target != "starter":
            raise CliError(f"unknown model '{args.target}' (available: starter)")
        from desktop.convert.starter import STARTER_NAME, install_starter

        if args.if_missing and STARTER_NAME in lib.names():
            damage = _damage(Path(lib.get(STARTER_NAME).path))
            if damage is None:
                return 0
            # our own download, so a damaged copy is simply fetched again
            print(f"The installed starter model is damaged ({damage}); installing it again.")
            with _changing_models("remove the damaged starter model"):
                lib.remove(STARTER_NAME)
        bar = ProgressBar()
        with _changing_models("install the starter model"):
            model = install_starter(lib, progress=bar)
        bar.done()
        print(f"Installed {model.name} ({model.size_bytes / 1e6:.0f} MB) at {model.path}")
        return 0
    if action == "import":
        source = Path(args.target)
        bar = ProgressBar()
        with _changing_models(f"import {source}"):
            model = lib.import_path(source, args.name, progress=bar, precision=args.precision)
        bar.done()
        print(f"Imported {model.name} at {model.path}")
        if args.name and model.name != args.name:  # "../evil", "My Model": said, not silent
            print(f"(named {model.name}: a model's name is letters, digits, '.', '_' and '-')")
        acc = model.manifest.get("accuracy")
        if isinstance(acc, dict):
            print(
                f"Accuracy vs {acc.get('reference')}: top-1 agreement "
                f"{100 * float(acc.get('top1_agreement', 0)):.1f}%, mean KL {acc.get('mean_kl')}"
            )
        return 0
    if action == "info":
        m = lib.get(args.target)
        print(
            json.dumps(
                {
                    **m.manifest,  # what the folder says about itself never hides where it is
                    "name": m.name,
                    "path": str(m.path),
                    "default": m.is_default,
                    "size_bytes": m.size_bytes,
                    "damaged": _damage(Path(m.path)),
                },
                indent=2,
            )
        )
        return 0
    if action == "remove":
        with _changing_models(f"remove {args.target}"):
            successor = lib.remove(args.target)
            settings = _settings()
            if settings.get_str("model.default") == args.target:  # the window's choice too
                settings.update({"model.default": successor or ""})
                settings.save()
        if successor is not None:
            print(f"Removed {args.target}; it was the default, {successor} is now")
        else:
            print(f"Removed {args.target}")
        return 0
    if action == "default":
        damage = _damage(Path(lib.get(args.target).path))
        if damage is not None:  # the window and `parley ask` would fail on it at every start
            raise CliError(
                f"{args.target} cannot be the default: {damage}; remove it (parley models "
                f"remove {args.target}) and install or import it again"
            )
        with _changing_models(f"make {args.target} the default"):
            lib.set_default(args.target)
            # the settings name the window's model first: they say the same from now on
            settings = _settings()
            if settings.get_str("model.default") not in ("", args.target):
                settings.update({"model.default": args.target})
                settings.save()
        print(f"Default model: {args.target}")
        return 0
    raise CliError(f"unknown action '{action}'")


# -- generation ---------------------------------------------------------------------------
def _model_path(name: str | None) -> Path:
    candidate = Path(name) if name else None
    if candidate is not None and candidate.is_dir():
        return candidate
    lib = _library()
    if name is not None and name not in lib.names():
        if candidate is not None and candidate.exists():
            raise CliError(
                f"--model {name} is a file; give a model folder or an installed model's name"
            )
        if any(sep and sep in name for sep in ("/", os.sep, os.altsep)):
            raise CliError(f"--model {name}: no such folder")
    # as the window chooses: the settings' default model first, then the library's
    preferred = _settings().get_str("model.default") if name is None else ""
    chosen = name or (preferred if preferred in lib.names() else None) or lib.default_name()
    if chosen is None:
        from desktop.config.bundled import bundled_model

        bundled = bundled_model()  # the model shipped inside an installed app
        if bundled is not None:
            return bundled
        raise CliError("no model installed; run: parley models install starter")
    return Path(lib.get(chosen).path)


def _load(args: argparse.Namespace) -> Any:
    from desktop.engine.engine import load_engine
    from desktop.engine.session import EngineLoadError

    path = _model_path(args.model)
    try:
        engine = load_engine(path, args.device, args.threads, getattr(args, "context", None))
    except EngineLoadError as exc:
        if exc.damaged:
            raise CliError(
                f"the model could not be loaded: {exc}; remove it (parley models remove "
                f"{path.name}) and install or import it again"
            ) from exc
        raise
    if engine.info.fallback_reason:
        print(f"note: {engine.info.fallback_reason}", file=sys.stderr)
    return engine


def _settings() -> Any:
    from desktop.config.settings import Settings

    return Settings.load()


# The numeric options and the settings they stand for: a value given on the command line must
# pass the same check as in the settings panel (so --threads 100000 or --context -1 is refused
# with the bounds, never handed to ONNX Runtime).
_SETTING_OF = {
    "temperature": "sampling.temperature",
    "top_k": "sampling.top_k",
    "top_p": "sampling.top_p",
    "min_p": "sampling.min_p",
    "repetition_penalty": "sampling.repetition_penalty",
    "seed": "sampling.seed",
    "max_tokens": "generation.max_new_tokens",
    "threads": "model.threads",
    "context": "model.context_length",
}


def _check_options(args: argparse.Namespace) -> None:
    from desktop.config.schema import OPTIONS, SettingError, options_by_key

    options = options_by_key(OPTIONS)
    for arg, key in _SETTING_OF.items():
        value = getattr(args, arg, None)
        if value is None:
            continue
        try:
            options[key].validate(value)
        except SettingError as exc:
            raise CliError(f"--{arg.replace('_', '-')} {exc.reason} (got {value})") from None
    for what, text in (("the prompt", getattr(args, "prompt", None)), ("--system", args.system)):
        if text is not None:
            _check_utf8(text, what)
    for stop in args.stop or ():
        _check_utf8(stop, "--stop")


def _check_utf8(text: str, what: str) -> None:
    """A CliError when ``text`` holds bytes that are not UTF-8: Python passes such bytes on as
    lone surrogates, which no tokenizer takes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CliError(
            f"{what} is not UTF-8 text; set the terminal (or the file it comes from) to UTF-8"
        ) from None


def _fill_defaults(args: argparse.Namespace) -> None:
    """Options not given on the command line come from the app's settings, so the CLI and the
    window answer alike."""
    _check_options(args)
    settings = _settings()
    defaults = settings.sampling_kwargs()
    args.recommendable = set()  # options the loaded model's recommendation may still set
    for arg, key in (
        ("temperature", "temperature"),
        ("top_k", "top_k"),
        ("top_p", "top_p"),
        ("min_p", "min_p"),
        ("repetition_penalty", "repetition_penalty"),
        ("seed", "seed"),
        ("max_tokens", "max_new_tokens"),
    ):
        if getattr(args, arg) is None:
            setattr(args, arg, defaults[key])
            if key in SAMPLING_KEYS and settings.is_default(f"sampling.{key}"):
                args.recommendable.add(arg)
        elif arg == "seed" and args.seed == -1:  # as in the settings: a new seed every time
            args.seed = None
    if args.system is None and not getattr(args, "raw", False):
        args.system = settings.get_str("chat.default_system_prompt") or None
    if args.device is None:
        args.device = settings.get_str("model.device")
    if args.threads is None:
        args.threads = settings.get_int("model.threads")
    if getattr(args, "context", None) is None:
        args.context = settings.get_int("model.context_length")
    args.trim_context = defaults["trim_context"]  # the settings' "when the chat is too long"


def _apply_recommendation(args: argparse.Namespace, engine: Any) -> None:
    """What the model's authors recommend (generation_config.json) fills the sampling options
    that neither the command line nor the user's settings chose, as in the window."""
    for key, value in engine.info.sampling:
        if key in getattr(args, "recommendable", ()):
            setattr(args, key, int(value) if key == "top_k" else value)


def _params(args: argparse.Namespace) -> SamplingParams:
    greedy = args.temperature == 0
    return SamplingParams(
        temperature=args.temperature,
        top_k=0 if greedy else args.top_k,
        top_p=1.0 if greedy else args.top_p,
        min_p=0.0 if greedy else args.min_p,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
        max_new_tokens=args.max_tokens,
        stop=tuple(args.stop or ()),
        trim_context=getattr(args, "trim_context", True),
    )


@contextlib.contextmanager
def _ctrl_c_cancels(cancel: threading.Event) -> Iterator[None]:
    """While an answer streams, Ctrl-C sets ``cancel`` rather than raising: the engine then
    stops within one token and ends its turn itself (an exception raised inside its generator
    would end the stream with no ``Finished`` and could leave the model's cache mid-step). A
    second Ctrl-C raises as usual."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield  # a thread cannot take signals; an ignored SIGINT stays ignored
        return

    def stop(signum: int, frame: object) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stream(
    events: Any,
    out: TextIO | None,
    cancel: threading.Event,
    on_text: Callable[[str], None] | None = None,
    blocks: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """Stream an answer to ``out`` (and each piece of text to ``on_text``); the result holds
    its text, token ids, finish reason, stats, error and how many messages were left out.
    ``blocks`` (the content filter's ``StreamScreen.blocks``) looks at each new piece before
    it is printed: once it says blocked, the answer stops and nothing more is shown (the
    window does the same; the caller moderates the whole answer after)."""
    text: list[str] = []
    hidden = False
    ids: list[int] = []
    result: dict[str, Any] = {"dropped_messages": 0}
    # A long chat takes seconds to a minute to read before its first word: a terminal sees
    # how far on one line of standard error, wiped when the answer begins.
    err = sys.stderr
    show_reading = out is not None and err is not None and err.isatty()
    reading = False

    def say_reading(line: str) -> None:  # "" wipes it
        # written where the answer will start (after "parley> "), the cursor saved there
        # (ESC 7) and put back (ESC 8) for each update: a carriage return wiped the prefix
        nonlocal reading
        start = "\0338" if reading else "\0337"
        err.write(f"{start}{line}\033[K" if line else "\0338\033[K")
        err.flush()
        reading = bool(line)

    try:
        with _ctrl_c_cancels(cancel):
            for ev in events:
                if isinstance(ev, PromptProgress):
                    if show_reading:
                        say_reading(f"(reading the chat… {100 * ev.done // ev.total}%)")
                    continue
                if reading:
                    say_reading("")
                if isinstance(ev, TextDelta):
                    if ev.token_id >= 0:
                        ids.append(ev.token_id)
                    text.append(ev.text)
                    if blocks is not None and ev.text and not hidden and blocks(ev.text):
                        hidden = True
                        cancel.set()
                    if out is not None and ev.text and not hidden:
                        out.write(ev.text)
                        out.flush()
                    if on_text is not None and ev.text:
                        on_text(ev.text)
                elif isinstance(ev, Finished):
                    result.update(finish_reason=ev.reason, stats=ev.stats, error=ev.error)
                elif isinstance(ev, ContextTrimmed):
                    result["dropped_messages"] = ev.dropped_messages
    except KeyboardInterrupt:  # the second Ctrl-C: the stream ends where it is
        cancel.set()
    if reading:
        say_reading("")
    if "finish_reason" not in result:
        result["finish_reason"] = "cancelled"
    result["text"], result["token_ids"] = "".join(text), ids
    result["hidden"] = hidden
    return result


def _answer_json(
    args: argparse.Namespace, payload: dict[str, Any], error: str | None = None
) -> None:
    """Print the one JSON object ``ask --json`` promises (once, also when it failed)."""
    if not getattr(args, "json_pending", False):
        return
    args.json_pending = False
    empty: dict[str, Any] = {
        "text": "",
        "token_ids": [],
        "prompt_tokens": 0,
        "finish_reason": "error",
        "error": error,
        "stats": None,
        "model": None,
        "conversation_id": getattr(args, "json_conversation_id", None),
        "moderation": getattr(args, "json_moderation", None),
    }
    utf8 = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "") == "utf8"
    print(json.dumps({**empty, **payload}, ensure_ascii=not utf8))


def _read_stdin() -> bytes:
    """Standard input, up to one byte more than an attachment may hold."""
    stdin = sys.stdin
    if stdin is None:
        raise CliError("standard input is closed; there is nothing to read from it ('-')")
    if _isatty(stdin):  # nothing piped in: the user types it, and must know how it ends
        print("(reading standard input: type or paste, then Ctrl-D on a line of its own)",
              file=sys.stderr)  # fmt: skip
    buffer = getattr(stdin, "buffer", None)
    if buffer is not None:
        data: bytes = buffer.read(MAX_BYTES + 1)
        return data
    return str(stdin.read(MAX_BYTES + 1)).encode("utf-8", "surrogateescape")


def _ask_prompt(args: argparse.Namespace) -> str:
    """The prompt of ``parley ask``: the files of ``--file`` (``-``: standard input), each in a
    fenced block, then the question (``-``: read from standard input)."""
    sources = [*args.file, *(["-"] if args.prompt == "-" else [])]
    if sources.count("-") > 1:
        raise CliError("standard input can be read once: give '-' as the prompt or one --file")
    question = args.prompt
    try:
        if question == "-":
            question = attachment_from_bytes("", _read_stdin()).text
        room = MAX_CHARS - len(question)
        blocks: list[str] = []
        for source in args.file:
            if source == "-":
                attachment = attachment_from_bytes("", _read_stdin(), room)
            else:
                attachment = read_attachment(Path(source), room, pipes=True)
            room -= len(attachment.text)
            blocks.append(attachment.as_markdown())
    except AttachmentError as exc:
        raise CliError(str(exc)) from None
    if not question.strip():
        raise CliError("the prompt is empty")
    return "\n".join([*blocks, question.strip()])


def cmd_ask(args: argparse.Namespace) -> int:
    args.json_pending = args.json
    _fill_defaults(args)
    args.prompt = _ask_prompt(args)
    # kept in the history as a chat of one exchange, as the window's quick ask keeps one
    # (a --raw completion has no chat to keep)
    recording = _Recording(notices=sys.stderr, announce=False)
    if args.save and not args.raw:
        recording.open()
    try:
        return _ask(args, recording)
    finally:
        recording.close()


def _ask(args: argparse.Namespace, recording: _Recording) -> int:
    content_filter = _content_filter(notices=sys.stderr)
    verdict = content_filter.check(args.prompt, "input")
    system = args.system or None

    # what the JSON object says also when the answer fails (the same keys every time)
    args.json_moderation = {"input": verdict.summary(), "output": ""}

    def record_question() -> None:
        recording.user_message(args.prompt, system)
        recording.moderated(recording.leaf_id, verdict)
        args.json_conversation_id = recording.conversation_id

    if verdict.blocked:  # kept, as the window keeps it: its banner offers "wrongly flagged"
        record_question()
        raise CliError(
            f"the content filter kept this prompt from the model ({verdict.summary()}); "
            "its settings say what it blocks"
        )
    if verdict.flagged:
        print(f"parley: your prompt was {verdict.summary()}", file=sys.stderr)
    engine = _load(args)  # a model that fails to load leaves no question without an answer
    _apply_recommendation(args, engine)
    params = _params(args)
    cancel = threading.Event()
    record_question()
    prompt_ids: list[int]
    if args.raw:
        prompt_ids = engine.encode_text(args.prompt)
        events = engine.generate_ids(prompt_ids, params, cancel)
    else:
        messages = ([ChatMessage("system", system)] if system else []) + [
            ChatMessage("user", args.prompt)
        ]
        prompt_ids = engine.encode_chat(messages)
        recorded: dict[str, object] = dict(dataclasses.asdict(params))
        recorded[SYSTEM_PROMPT_KEY] = system  # what the model was told, for feedback
        recording.begin_answer(engine.info.name, recorded)
        events = engine.generate(messages, params, cancel)
    out = None if args.json else sys.stdout
    result = _stream(
        events, out, cancel, recording.partial, content_filter.stream_screen().blocks
    )  # fmt: skip
    recording.finish(result)
    stats = result.get("stats")
    found = content_filter.check(result["text"], "output") if result["text"].strip() else None
    if found is not None:
        recording.moderated(recording.leaf_id, found)
    if args.json:
        payload = {
            "text": result["text"],
            "token_ids": result["token_ids"],
            "prompt_tokens": stats.prompt_tokens if stats else len(prompt_ids),
            "finish_reason": result.get("finish_reason"),
            "error": result.get("error"),
            "stats": stats.__dict__ if stats else None,
            "model": engine.info.name,
            "conversation_id": recording.conversation_id,  # in the history; null: not kept
            # what the content filter found ("" for nothing), as the window's banners say it
            "moderation": {
                "input": verdict.summary(),
                "output": found.summary() if found is not None else "",
            },
        }
        _answer_json(args, payload)
    else:
        print()
    if found is not None and found.flagged and not args.json:
        print(f"parley: the answer was {found.summary()}", file=sys.stderr)
    if result.get("error"):
        print(f"parley: error: {result['error']}", file=sys.stderr)
    if stats and args.verbose and not args.json:
        print(
            f"[{stats.generated_tokens} tokens, {stats.decode_tok_s:.1f} tok/s, "
            f"TTFT {stats.ttft_s * 1000:.0f} ms, {display_name(stats.provider)}]",
            file=sys.stderr,
        )
    if result.get("finish_reason") == "error":
        return EXIT_ERROR
    if result.get("finish_reason") == "cancelled":
        saved = recording.conversation_id if result["text"] and not args.raw else None
        print(f"parley: cancelled{_goes_on(saved)}", file=sys.stderr)
        return EXIT_CANCELLED
    if result.get("finish_reason") == "repetition" and not args.json:
        print("parley: the answer was ended early: it was repeating itself", file=sys.stderr)
    if result.get("finish_reason") == "length" and not args.json:
        _say_cut_off(len(result["token_ids"]), params.max_new_tokens, recording.conversation_id)
    return 0


def _say_cut_off(generated: int, limit: int, saved: int | None) -> None:
    """An answer that ended at a limit rather than by itself (``finish_reason`` "length")."""
    if generated < limit:  # the engine stops there too
        print("parley: the answer was cut off: the model's context window is full", file=sys.stderr)
        return
    print(
        f"parley: the answer was cut off at its length limit "
        f"({limit} token{'' if limit == 1 else 's'}){_goes_on(saved)}",
        file=sys.stderr,
    )


def _goes_on(saved: int | None) -> str:
    """How to go on with an answer kept in the history (saved in chat ``saved``), or ""."""
    return f"; parley chat --resume {saved}, then /continue, goes on with it" if saved else ""


CHAT_HELP = """Commands:
  /new              start over (the system prompt stays)
  /system [TEXT]    set the system prompt (none: remove it) and start over
  /continue         go on with the last answer (after Ctrl-C or its length limit)
  /file PATH        put a text file into your next message (as a block under its name)
  /help             this list
  /exit, /quit      quit (so does Ctrl-D)
A message that starts with / is a command; start it with // to send a literal /.
\"\"\" on a line starts a message of several lines (pasted code, a list); \"\"\" ends it.
Each conversation is saved in the app's history, as in the window (its sidebar and search
show it); parley chat --resume ID goes on with one, --no-save keeps a chat out of it."""
BLOCK = '"""'  # opens and closes a message of several lines (as in Ollama's terminal chat)
FLUSH_INTERVAL_S = 0.5  # while an answer streams, its text so far is saved this often
# A write the history refuses: the environment's fault (KnownError: locked by an import in
# the window, damaged, read-only, disk full), or another program changed this conversation
# meanwhile (the answer is no longer streaming: ValueError; purged: NotFoundError).
_UNWRITABLE = (KnownError, ValueError, NotFoundError)
_T = TypeVar("_T")
_NOTE_OF_REASON = {  # said after an answer that /continue may go on with
    "length": "[cut off by the length limit: /continue goes on]",
    "cancelled": "[stopped: /continue goes on]",
    "repetition": "[stopped: it was repeating itself; /continue goes on anyway]",
}


INPUT_HISTORY_LINES = 1000  # lines of parley chat's input kept for Up in the next chat


class _Lines:
    """The chat's input, a line at a time: at a terminal through ``input()`` with readline
    (arrow keys edit the line, Up brings back earlier messages, also those of earlier chats
    when ``history`` names the file that keeps them), otherwise read as it is."""

    def __init__(self, stdin: TextIO, history: Path | None = None) -> None:
        self.stdin = stdin
        self.terminal = stdin is sys.__stdin__ and _isatty(stdin)
        self.history: Path | None = None
        if self.terminal:
            try:  # not on Windows: plain input() still works there
                import readline  # importing it gives input() line editing
            except ImportError:
                return
            if history is not None:
                self.history = history
                readline.set_history_length(INPUT_HISTORY_LINES)
                with contextlib.suppress(OSError):  # none yet, or unreadable: start empty
                    readline.read_history_file(history)

    def close(self) -> None:
        """Keep what was typed for the next chat (a history that cannot be written is let
        go: it is a convenience)."""
        if self.history is None:
            return
        import readline

        with contextlib.suppress(OSError):
            self.history.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(self.history)
            os.chmod(self.history, 0o600)  # what was typed is the user's only

    def read(self, prompt: str) -> str | None:
        """One line without its newline; None at the end of the input."""
        if self.terminal:
            try:
                return input(prompt)
            except EOFError:
                return None
        sys.stdout.write(prompt)
        sys.stdout.flush()
        line = self.stdin.readline()
        return line.rstrip("\r\n") if line else None

    def message(self) -> str | None:
        """The next message: one line, or the lines between two \"\"\" (None at the end)."""
        line = self.read("you> ")
        if line is None or not line.strip().startswith(BLOCK):
            return line
        first = line.strip()[len(BLOCK) :]
        if first.endswith(BLOCK):  # \"\"\"all on one line\"\"\"
            return first[: -len(BLOCK)]
        lines = [first] if first else []
        while (more := self.read("... ")) is not None:
            if more.rstrip().endswith(BLOCK):
                lines.append(more.rstrip()[: -len(BLOCK)])
                return "\n".join(lines)
            lines.append(more)
        if self.terminal:  # Ctrl-D inside the block: half a message is not sent
            print(f"\n(not sent: the message had no closing {BLOCK})")
            return None
        return "\n".join(lines)  # a piped script's end closes the block


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def _attach(path: str, attached: list[Attachment]) -> Attachment | None:
    """``/file PATH`` of the chat: the file, or None with the reason printed."""
    if not path:
        print("(/file needs the path of a text file)")
        return None
    room = MAX_CHARS - sum(len(a.text) for a in attached)
    try:
        return read_attachment(Path(path).expanduser(), room)
    except AttachmentError as exc:
        print(f"({exc}; nothing was attached)")
        return None


def _open_history() -> Store:
    # Answers left "streaming" by a process that ended become "interrupted" (/continue goes
    # on with them); one the window or another terminal is writing now stays as it is.
    return Store.open()


class _Recording:
    """``parley chat`` as a conversation in the app's history, stored as the window stores one
    (desktop.services.chat_session): created at its first message with the system prompt
    used; each user message, then an answer that is ``streaming`` (its text saved every
    ``FLUSH_INTERVAL_S``) until it ends ``complete``, ``stopped`` or ``error`` with its stats.
    The history never costs the user the chat: the first write it refuses is said in one
    line (on ``notices``), and the chat goes on in memory, unsaved. ``parley ask`` records
    its one exchange the same way, quietly: its output is the answer alone."""

    def __init__(self, notices: TextIO | None = None, announce: bool = True) -> None:
        self.notices = notices  # None: standard output (the chat's own lines)
        self.announce = announce  # say where a new conversation was saved
        self.store: Store | None = None
        self.conversation_id: int | None = None
        self.leaf_id: int | None = None  # the last message stored in the conversation
        self._answer: int | None = None  # the answer being streamed
        self._resumed: Message | None = None  # the answer being continued, as it was
        self._parts: list[str] = []  # the answer's text, as it arrived
        self._flushed = 0.0
        self._feedback: FeedbackStore | None = None  # opened at the first finding to keep

    def open(self) -> None:
        try:
            self.store = _open_history()
        except KnownError as exc:
            self._say_not_saved(exc)

    def _say_not_saved(self, exc: Exception) -> None:
        reason = " ".join(str(exc).split()).rstrip(".")  # a sentence of its own, within ours
        what = "this chat" if self.announce else "this answer"  # parley ask: one answer
        print(f"(the history cannot be written: {reason}; {what} is not being saved)",
              file=self.notices)  # fmt: skip

    def resume(
        self, conversation_id: int, save: bool
    ) -> tuple[Conversation, list[Message], set[int]]:
        """Go on with conversation ``conversation_id``: it, its current branch and the
        messages of it the content filter blocked. Without a history (or without that
        conversation) there is nothing to go on with: that is the command's error."""
        store = _open_history()
        try:
            conversation, path = _stored_chat(store, conversation_id)
            blocked = _blocked_among(store, [m.id for m in path])
        except BaseException:
            store.close()
            raise
        if save:
            self.store, self.conversation_id = store, conversation.id
            self.leaf_id = conversation.current_leaf_id
        else:
            store.close()
        return conversation, path, blocked

    def moderated(self, message_id: int | None, result: ModerationResult) -> None:
        """Keep what the content filter found on a stored message, as the window does (its
        banner there, the reports of wrong flags)."""
        store = self.store
        if store is None or message_id is None or not result.flags:
            return
        with contextlib.suppress(KnownError, sqlite3.Error):
            if self._feedback is None:
                from desktop.feedback.repository import FeedbackStore

                self._feedback = FeedbackStore(store)
            self._feedback.record_moderation(message_id, result)

    @property
    def saving(self) -> bool:
        return self.store is not None

    def start_over(self) -> None:
        """/new, /system: the next message starts another conversation."""
        self.conversation_id = self.leaf_id = None

    def user_message(self, text: str, system: str | None) -> None:
        """Store the user's message after the last one; the first creates the conversation."""
        new = self.conversation_id is None
        stored = self._write(lambda store: self._add_user(store, text, system))
        if stored and new and self.announce:
            print(
                f'(saved in your history as "{title_from(text)}"; '
                f"parley chat --resume {self.conversation_id} goes on with it)"
            )

    def _add_user(self, store: Store, text: str, system: str | None) -> Message:
        with store.transaction():  # a new conversation comes with its first message, or not
            conversation_id = self.conversation_id
            if conversation_id is None:
                # "" for no system prompt: None would mean the settings' default when the
                # conversation is continued (here or in the window)
                created = store.create_conversation(title_from(text), system_prompt=system or "")
                conversation_id = created.id
            message = store.add_message(conversation_id, self.leaf_id, "user", text)
        self.conversation_id, self.leaf_id = conversation_id, message.id
        return message

    def begin_answer(self, model: str, params: dict[str, object]) -> None:
        """The answer to the message just stored begins, empty and ``streaming``."""
        conversation_id, parent = self.conversation_id, self.leaf_id
        if conversation_id is not None:
            self._begin(
                self._write(lambda s: s.begin_assistant(conversation_id, parent, model, params))
            )

    def resume_answer(self) -> None:
        """/continue: the last answer stored goes on, into the same message."""
        leaf = self.leaf_id
        if leaf is not None:
            both = self._write(lambda store: (store.get_message(leaf), store.resume(leaf)))
            if both is not None:
                self._begin(both[1], resumed=both[0])

    def _begin(self, message: Message | None, resumed: Message | None = None) -> None:
        if message is not None:
            self._answer, self._resumed, self.leaf_id = message.id, resumed, message.id
            self._parts, self._flushed = [], time.monotonic()

    def _so_far(self) -> str:
        return (self._resumed.content if self._resumed else "") + "".join(self._parts)

    def partial(self, text: str) -> None:
        """More of the answer arrived: the text so far is saved every FLUSH_INTERVAL_S."""
        answer = self._answer
        if answer is None:
            return
        self._parts.append(text)
        if time.monotonic() - self._flushed >= FLUSH_INTERVAL_S:
            so_far = self._so_far()
            self._write(lambda store: store.append_partial(answer, so_far))
            self._flushed = time.monotonic()

    def finish(self, result: dict[str, Any]) -> None:
        """The answer ended (``result`` as ``_stream`` gives it): store how."""
        answer, self._answer = self._answer, None
        if answer is not None:
            status, stats, text = _ending(result, self._resumed)
            self._write(lambda store: store.finish(answer, status, stats, text))

    def close(self) -> None:
        """The chat ends, also by an exception: an answer still streaming is stored as
        stopped with its text so far (never left ``streaming``), and the history closed."""
        if self._answer is not None:
            self.finish({"finish_reason": "cancelled", "text": "".join(self._parts)})
        if self._feedback is not None:
            self._feedback.close()
            self._feedback = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def _write(self, write: Callable[[Store], _T]) -> _T | None:
        """``write`` into the history: None without one, or when it refused (said once)."""
        store = self.store
        if store is None:
            return None
        try:
            return write(store)
        except _UNWRITABLE as exc:
            self.store = None
            answer, self._answer = self._answer, None
            if answer is not None:  # a last try, so that it is not left "streaming"
                with contextlib.suppress(*_UNWRITABLE):
                    store.finish(answer, "stopped", None, self._so_far())
            self.close()  # the history is let go (store is None now: nothing is finished twice)
            store.close()
            self._say_not_saved(exc)
            return None


LATEST = 0  # --resume without an id: the conversation written to last


def _content_filter(notices: TextIO | None = None) -> Moderator:
    """The content filter the settings describe, as the window applies it; what keeps part of
    it from working (a classifier folder that cannot be loaded) is said to ``notices``."""
    from desktop.feedback.content_filter import moderator_from_settings

    moderator, said = moderator_from_settings(_settings())
    for notice in said:
        print(f"({notice})", file=notices or sys.stdout)
    return moderator


def _blocked_among(store: Store, message_ids: list[int]) -> set[int]:
    """The messages the content filter blocked (never sent to the model)."""
    from desktop.feedback.repository import FeedbackStore

    try:
        feedback = FeedbackStore(store)
    except (KnownError, sqlite3.Error):
        return set()
    try:
        return feedback.blocked_among(message_ids)
    except (KnownError, sqlite3.Error):
        return set()
    finally:
        feedback.close()


def _stored_chat(store: Store, conversation_id: int) -> tuple[Conversation, list[Message]]:
    """A conversation of the history (not one in the trash) and its current branch;
    ``LATEST``: the one written to last."""
    if conversation_id == LATEST:
        chats = store.list_conversations()
        if not chats:
            raise CliError("your history has no conversation to go on with yet")
        conversation_id = max(chats, key=lambda c: c.updated_at).id
    try:
        conversation: Conversation | None = store.get_conversation(conversation_id)
    except NotFoundError:
        conversation = None
    if conversation is None or conversation.deleted_at is not None:
        raise CliError(
            f"no conversation {conversation_id} in your history (see: parley export --list)"
        )
    return conversation, store.current_path(conversation_id)


def _ending(
    result: dict[str, Any], resumed: Message | None
) -> tuple[FinalStatus, dict[str, Any] | None, str]:
    """An answer's stored status, stats and text, as the window's ``ChatSession._end``."""
    before = resumed.content if resumed is not None else ""
    status = status_of(result["finish_reason"])
    if resumed is not None and status != "complete" and not result["text"]:
        # a continuation that wrote nothing leaves the answer as it was, still continuable
        return put_back(resumed.status), resumed.stats, before
    stats: dict[str, Any] = dataclasses.asdict(result["stats"]) if result.get("stats") else {}
    earlier = (resumed.stats or {}).get("generated_tokens") if resumed is not None else None
    if stats and isinstance(earlier, int):  # a continued answer counts all its tokens
        stats["generated_tokens"] += earlier
        stats["prompt_tokens"] = max(0, stats["prompt_tokens"] - earlier)
    if result.get("dropped_messages"):
        stats["context_trimmed"] = result["dropped_messages"]
    stats["finish_reason"] = result["finish_reason"]
    if result.get("error"):
        stats["error"] = result["error"]
    return status, stats, before + result["text"]


class _Chat:
    """``parley chat``'s conversation: what the model is told (in memory) and its record."""

    def __init__(
        self,
        engine: Any,
        params: SamplingParams,
        system: str | None,
        recording: _Recording,
        verbose: bool,
    ) -> None:
        self.engine, self.params, self.system = engine, params, system
        self.recording, self.verbose = recording, verbose
        self.filter = _content_filter()
        self.history: list[ChatMessage] = []
        self.attachments: list[Attachment] = []  # /file: they go with the next message
        self.can_continue = False
        # A resumed chat is read into the engine's cache while the first question is typed.
        self._reading: tuple[threading.Thread, threading.Event] | None = None

    def go_on(self, conversation: Conversation, path: list[Message], blocked: set[int]) -> None:
        """Continue a stored conversation (``--resume``): its system prompt and branch, less
        what the content filter blocked (it never reaches the model)."""
        if conversation.system_prompt is not None:  # None: the default, as in the window
            self.system = conversation.system_prompt or None
        self.history = [
            ChatMessage(m.role, m.content)
            for m in path
            if m.id not in blocked
            and (m.role == "user" or (m.role == "assistant" and m.content and m.status != "error"))
        ]
        self.can_continue = bool(path) and can_continue(path[-1]) and path[-1].id not in blocked
        count = f"{len(path)} message{'' if len(path) == 1 else 's'}"
        unsaved = "" if self.recording.saving else "; --no-save: what follows is not saved"
        print(f'(continuing "{conversation.title}": {count}{unsaved})')
        _show_last_exchange(path)
        self._read_ahead()

    def _read_ahead(self) -> None:
        """Have the engine read the chat while the next question is typed (as the window
        does): the answer then starts from the new message alone."""
        prefill = getattr(self.engine, "prefill", None)
        if prefill is None or not self.history:
            return
        messages = ([ChatMessage("system", self.system)] if self.system else []) + self.history
        cancel = threading.Event()
        thread = threading.Thread(
            target=prefill, args=(messages, self.params, cancel), name="parley-read", daemon=True
        )
        thread.start()
        self._reading = (thread, cancel)

    def stop_reading(self) -> None:
        """Stop reading ahead (within one part of the prompt), before the engine answers."""
        if self._reading is not None:
            thread, cancel = self._reading
            cancel.set()
            thread.join()
            self._reading = None

    def command(self, name: str, rest: str) -> bool:
        """Run ``/name rest``; False when it ends the chat."""
        self.stop_reading()
        if name in ("exit", "quit", "bye"):
            return False
        if name in ("new", "clear", "reset"):
            self._start_over()
            self.attachments = []
            print("(a new conversation)")
        elif name == "system":
            self.system = rest or None
            self._start_over()
            print(f"(system prompt: {self.system!r}; a new conversation)" if self.system else
                  "(no system prompt; a new conversation)")  # fmt: skip
        elif name == "continue":
            self.continue_answer()
        elif name == "file":
            attached = _attach(rest, self.attachments)
            if attached is not None:
                self.attachments.append(attached)
                print(f"({attached.name}: {len(attached.text):,} characters, sent with your "
                      "next message)")  # fmt: skip
        elif name == "help":
            print(CHAT_HELP)
        else:
            print(f"(unknown command /{name}; /help lists them)")
        return True

    def _start_over(self) -> None:
        self.history, self.can_continue = [], False
        self.recording.start_over()

    def send(self, text: str) -> None:
        """The user's message (with the files attached), and its answer."""
        self.stop_reading()
        content = "\n".join([*(a.as_markdown() for a in self.attachments), text])
        self.attachments = []
        self.recording.user_message(content, self.system)
        verdict = self.filter.check(content, "input")
        self.recording.moderated(self.recording.leaf_id, verdict)
        if verdict.blocked:
            print(f"(not sent to the model: {verdict.summary()}; edit the settings' content "
                  "filter if this is wrong)")  # fmt: skip
            self.can_continue = False
            return
        if verdict.flagged:
            print(f"(your message was {verdict.summary()})")
        self.history.append(ChatMessage("user", content))
        recorded: dict[str, object] = dict(dataclasses.asdict(self.params))
        recorded[SYSTEM_PROMPT_KEY] = self.system  # what the model was told, for feedback
        self.recording.begin_answer(self.engine.info.name, recorded)
        sys.stdout.write("parley> ")
        result = self._turn()
        if result["finish_reason"] == "error":
            self.history.pop()
            self.can_continue = False
            return
        if result.get("blocked"):
            self.can_continue = False
            return
        self.history.append(ChatMessage("assistant", result["text"]))
        self.can_continue = result["finish_reason"] in CONTINUABLE and bool(result["text"])

    def _answer_blocked(self, text: str) -> bool:
        """The content filter on the answer just shown: said, recorded, and a blocked answer
        is left out of what the model reads from here on (as in the window)."""
        verdict = self.filter.check(text, "output")
        self.recording.moderated(self.recording.leaf_id, verdict)
        if verdict.blocked:
            print(f"[the answer was {verdict.summary()}: it is left out of the chat from here on]")
            return True
        if verdict.flagged:
            print(f"[the answer was {verdict.summary()}]")
        return False

    def continue_answer(self) -> None:
        if not self.can_continue:
            if not self.history or self.history[-1].role != "assistant":
                print("(nothing to continue: no answer yet)")
            else:
                print("(nothing to continue: the last answer ended by itself)")
            return
        self.recording.resume_answer()
        sys.stdout.write("parley> …")
        before = self.history[-1].content
        result = self._turn(before)
        if result.get("blocked"):
            self.history.pop()  # the whole answer: left out of what the model reads
            self.can_continue = False
        elif result["finish_reason"] != "error":
            self.history[-1] = ChatMessage("assistant", before + result["text"])
            self.can_continue = result["finish_reason"] in CONTINUABLE

    def _turn(self, before: str = "") -> dict[str, Any]:
        """One answer (``before``: the text of the answer it continues, which the content
        filter reads with the new text)."""
        result = _chat_turn(
            self.engine, self.system, self.history, self.params, self.verbose,
            self.recording.partial, lambda text: self._answer_blocked(before + text),
            self.filter.stream_screen().blocks,
        )  # fmt: skip
        self.recording.finish(result)
        return result


def _show_last_exchange(path: list[Message]) -> None:
    """Where a continued conversation stands: its last question and what came after it."""
    asked = max((i for i, m in enumerate(path) if m.role == "user"), default=0)
    for message in path[asked:]:
        print(f"{'you' if message.role == 'user' else 'parley'}> {message.content}")
    last = path[-1] if path else None
    if last is None or last.role != "assistant":
        return
    reason = (last.stats or {}).get("finish_reason")
    if last.status == "interrupted":
        print("[interrupted: /continue goes on]")
    elif last.status == "error":
        print("[the answer failed]")
    elif can_continue(last) and reason in _NOTE_OF_REASON:
        print(_NOTE_OF_REASON[reason])


def cmd_chat(args: argparse.Namespace) -> int:
    if args.resume is not None and args.system:
        # the chat keeps the system prompt it was written with (the window's Chat settings
        # change it); silently answering without the one asked for would be worse
        raise CliError(
            "--system cannot change a resumed chat's system prompt (it keeps its own; the "
            "window's Chat settings change it); /system in the chat starts a new one with it"
        )
    _fill_defaults(args)
    stdin = sys.stdin
    if stdin is None:
        raise CliError("standard input is closed; chat reads your messages from it")
    if isinstance(stdin, io.TextIOWrapper):  # a line that is not UTF-8 is refused, not fatal
        stdin.reconfigure(errors="surrogateescape")
    recording = _Recording()
    # Up recalls the lines of earlier chats too, unless this one is kept out of the history
    from desktop.store import default_path
    from desktop.store.recording import INPUT_HISTORY_NAME

    typed = default_path().parent / INPUT_HISTORY_NAME
    lines = _Lines(stdin, typed if args.save else None)
    with _ended_by_quit_signals():
        try:
            return _chat(args, lines, recording)
        finally:
            lines.close()
            recording.close()


def _chat(args: argparse.Namespace, lines: _Lines, recording: _Recording) -> int:
    # an unknown conversation is said before the model loads
    resumed = None if args.resume is None else recording.resume(args.resume, args.save)
    engine = _load(args)
    _apply_recommendation(args, engine)
    chat = _Chat(engine, _params(args), args.system or None, recording, args.verbose)
    print(
        f"Parley — {engine.info.name} on {display_name(engine.info.provider)}. "
        "Ctrl-D quits; Ctrl-C stops an answer; /help lists commands."
    )
    if resumed is not None:
        chat.go_on(*resumed)
    elif args.save:
        recording.open()
    return _converse(chat, lines)


@contextlib.contextmanager
def _ended_by_quit_signals() -> Iterator[None]:
    """While the chat runs, SIGTERM and SIGHUP (its terminal closed, a logout) end it as an
    exception does, so that an answer being written is stored first (by default they end
    the process on the spot). A signal ignored (nohup) or handled already stays so."""
    if threading.current_thread() is not threading.main_thread():
        yield  # a thread cannot take signals
        return

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # the exit status a shell shows for the signal

    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):  # Windows has no SIGHUP
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is signal.SIG_DFL:
            previous[number] = signal.signal(number, leave)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _converse(chat: _Chat, lines: _Lines) -> int:
    """Read messages and commands until the end of the input, /exit or Ctrl-C at the prompt."""
    try:
        return _conversation(chat, lines)
    finally:
        chat.stop_reading()


def _conversation(chat: _Chat, lines: _Lines) -> int:
    interrupted = False  # Ctrl-C at the prompt just before: a second one leaves
    while True:
        try:
            print()
            message = lines.message()
        except KeyboardInterrupt:
            # as in Python's prompt: the line typed goes, the chat stays (a Ctrl-C meant for
            # an answer that had just ended must not end the chat)
            print()
            if interrupted:
                return EXIT_CANCELLED
            interrupted = True
            print("(Ctrl-C again, Ctrl-D or /exit leaves the chat)")
            continue
        interrupted = False
        if message is None:
            print()
            return 0
        text = message.strip()
        if not text:
            continue
        try:
            _check_utf8(text, "that message")
        except CliError as exc:
            print(f"({exc}; nothing was sent)")
            continue
        if text.startswith("/") and not text.startswith("//"):
            command, _, rest = text[1:].partition(" ")
            if not chat.command(command.lower(), rest.strip()):
                return 0
            continue
        chat.send(text[1:] if text.startswith("//") else text)


def _chat_turn(
    engine: Any,
    system: str | None,
    history: list[ChatMessage],
    params: SamplingParams,
    verbose: bool,
    on_text: Callable[[str], None] | None = None,
    screen: Callable[[str], bool] | None = None,
    blocks: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """Stream one answer to ``history`` (ending with the user's message, or with an answer to
    continue), each piece of text also to ``on_text``; a failure is printed. ``screen`` (the
    content filter) looks at the text written and says whether it is blocked: then
    ``result["blocked"]`` is set and /continue is not offered. ``blocks`` screens it while it
    streams (see ``_stream``)."""
    messages = ([ChatMessage("system", system)] if system else []) + history
    cancel = threading.Event()
    started = time.perf_counter()
    result = _stream(engine.generate(messages, params, cancel), sys.stdout, cancel, on_text, blocks)
    print(" […]" if result["hidden"] else "")
    if result.get("dropped_messages"):
        print(f"[{result['dropped_messages']} older messages left out of the context]")
    reason = result["finish_reason"]
    if reason == "error":
        print(f"parley: error: {result.get('error')}", file=sys.stderr)
        return result
    if screen is not None and result["text"].strip() and screen(result["text"]):
        result["blocked"] = True
        return result
    if reason == "cancelled" and not result["text"]:
        print("[stopped]")
    elif reason in _NOTE_OF_REASON:
        print(_NOTE_OF_REASON[reason])
    if verbose:
        print(f"[{time.perf_counter() - started:.1f} s]", file=sys.stderr)
    return result


def cmd_bench(args: argparse.Namespace) -> int:
    for option, value in (("--rounds", args.rounds), ("--threads", args.threads)):
        if value < 1:
            raise CliError(f"{option} must be at least 1 (got {value})")
    if args.json:  # checked now, not after minutes of measuring
        output_path(Path(args.json))
    from desktop.benchmark import run_benchmark

    run_benchmark(
        Path(args.json) if args.json else None,
        rounds=args.rounds,
        engines=args.engines,
        threads=args.threads,
    )
    return 0


# -- parser -------------------------------------------------------------------------------
def _generation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="installed model name or a model folder (default: default)")
    p.add_argument(
        "--device",
        choices=["auto", "cuda", "directml", "cpu"],
        help="execution provider (default: settings, normally auto)",
    )
    p.add_argument("--threads", type=int, help="CPU threads (0 = automatic)")
    p.add_argument("--context", type=int, help="context length in tokens (default: settings)")
    p.add_argument("--system", help="system prompt (default: the one in settings; '' for none)")
    # Sampling defaults come from the settings (desktop.config.schema).
    p.add_argument("--temperature", type=float, help="0 = greedy")
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--min-p", type=float)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--stop", action="append", help="stop string (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true", help="print speed statistics")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("parley-desktop")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parley",
        description="A local ChatGPT. Without a command, parley opens the window "
        "(parley --quick-ask: the quick-ask box).",
    )
    parser.add_argument("--version", action="version", version=f"parley {_version()}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="load the default (or bundled) model, answer one prompt, exit 0 or 1",
    )
    sub = parser.add_subparsers(dest="command")

    ask = sub.add_parser(
        "ask",
        help="answer one prompt, streamed (saved in the app's history)",
        description="Answer one prompt, streamed to standard output. The question and its "
        "answer are saved in the app's history as a chat (--no-save: not saved), which the "
        "window shows and parley chat --resume goes on with.",
    )
    ask.add_argument("prompt", help="the question; '-' reads it from standard input")
    ask.add_argument(
        "-f",
        "--file",
        action="append",
        default=[],
        metavar="FILE",
        help="a text file to put before the question, in a fenced block ('-': standard input); "
        "may be given several times",
    )
    _generation_args(ask)
    ask.add_argument(
        "--raw", action="store_true", help="no chat template (a completion: not saved)"
    )
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument(
        "--no-save",
        dest="save",
        action="store_false",
        help="keep this question and its answer out of the app's history",
    )
    ask.set_defaults(func=cmd_ask)

    chat = sub.add_parser(
        "chat",
        help="a conversation in the terminal, saved in the app's history",
        description="A conversation in the terminal, saved in the app's history as in the "
        "window (--no-save: not saved). Type /help in it for its commands.",
    )
    _generation_args(chat)
    chat.add_argument(
        "--resume",
        type=int,
        nargs="?",
        const=LATEST,
        metavar="ID",
        help="go on with conversation ID of the history, or without ID the one written to "
        "last (with its own system prompt; ids: parley export --list)",
    )
    chat.add_argument(
        "--no-save",
        dest="save",
        action="store_false",
        help="keep this chat out of the history (it is forgotten on exit)",
    )
    chat.set_defaults(func=cmd_chat)

    models = sub.add_parser(
        "models",
        help="list, install, import, inspect, remove models; choose the default",
        description="The models Parley can answer with. list: installed ones (* the "
        "default); install starter: the built-in SmolLM2-135M-Instruct; import PATH: a GGUF "
        "file, a Hugging Face checkpoint folder or an ONNX model folder; info NAME: its "
        "manifest; remove NAME; default NAME: the one parley ask, parley chat and the window "
        "use.",
    )
    models.add_argument(
        "action",
        choices=["list", "install", "import", "info", "remove", "default"],
        help="what to do",
    )
    models.add_argument("target", nargs="?", help="'starter', a path, or a model name")
    models.add_argument("--name", help="name for an imported model")
    models.add_argument("--if-missing", action="store_true", help="install only if absent")
    models.add_argument(
        "--precision",
        choices=["int4", "int8", "fp32"],
        help="weights of an imported Hugging Face checkpoint (default int4)",
    )
    models.set_defaults(func=cmd_models, parser=models)

    bench = sub.add_parser(
        "bench",
        help="compare engines on the starter model",
        description="Speed and accuracy of Parley against llama.cpp and onnxruntime-genai "
        "on the same weights, in interleaved rounds (see bench/README.md); writes "
        "bench/RESULTS.md.",
    )
    bench.add_argument("--json", help="write results to this JSON file")
    bench.add_argument("--rounds", type=int, default=3, help="rounds of every engine (3)")
    bench.add_argument("--threads", type=int, default=2, help="CPU threads per engine (2)")
    bench.add_argument(
        "--engines",
        nargs="+",
        default=["parley", "llama.cpp", "onnxruntime-genai"],
        help="which to run (all three; one not installed is reported as unavailable)",
    )
    bench.set_defaults(func=cmd_bench)

    from desktop.cli_feedback import register as register_feedback
    from desktop.cli_transcripts import add_commands

    register_feedback(sub)
    add_commands(sub)  # export, import
    return parser


class _Output:
    """Standard output while a command runs. It remembers whether writing to it failed, so that
    such an OSError (its reader went away, its disk is full) is told apart from one of the
    command's own files."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.encoding = stream.encoding
        self.errors = getattr(stream, "errors", None)  # input() reads both at a terminal
        self.failed = False

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError:
            self.failed = True
            raise

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError:
            self.failed = True
            raise

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def discard(self) -> None:
        """Send what is left to the null device: Python's own flush at exit would otherwise
        fail a second time, with a traceback."""
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file: nothing is flushed at exit
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


def _fail(args: argparse.Namespace, message: str, code: int = EXIT_ERROR) -> int:
    cancelled = code == EXIT_CANCELLED
    print("\nparley: cancelled" if cancelled else f"parley: error: {message}", file=sys.stderr)
    with contextlib.suppress(OSError):
        reason = "cancelled" if cancelled else "error"
        _answer_json(args, {"finish_reason": reason}, None if cancelled else message)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.self_test:
        from desktop.selftest import run

        return run()
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "models" and args.action != "list" and not args.target:
        args.parser.error(f"'models {args.action}' needs a target")  # with its own usage
    if args.command == "models" and args.action == "list" and args.target:
        args.parser.error(f"'models list' takes no name (got '{args.target}')")
    if sys.stdout is None:  # started with standard output closed: nothing could be shown
        print("parley: error: standard output is closed", file=sys.stderr)
        return EXIT_ERROR
    if isinstance(sys.stdout, io.TextIOWrapper):
        # a character the output's encoding lacks (a Windows console's cp1252) shows as '?'
        # rather than ending the answer
        sys.stdout.reconfigure(errors="replace")
    output = _Output(sys.stdout)
    sys.stdout = cast(TextIO, output)
    try:
        return _run(args, output)
    finally:
        sys.stdout = output.stream


def _run(args: argparse.Namespace, output: _Output) -> int:
    try:
        code: int = args.func(args)
        output.flush()
        return code
    except KeyboardInterrupt:
        return _fail(args, "cancelled", EXIT_CANCELLED)
    except (CliError, ConversionError, KnownError, ValueError) as exc:
        return _fail(args, str(exc))
    except OSError as exc:
        if not output.failed:
            return _fail(args, _os_error_text(exc))
        output.discard()
        if isinstance(exc, BrokenPipeError):
            return EXIT_BROKEN_PIPE  # the reader has what it wanted: nothing to say
        print(f"parley: error: cannot write the output ({exc.strerror or exc})", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        from desktop.engine.session import EngineLoadError

        if isinstance(exc, EngineLoadError):
            return _fail(args, f"the model could not be loaded: {exc}")
        if os.environ.get("PARLEY_DEBUG"):
            raise
        # Parley's own bug: one line, the traceback in a file (never in the user's face)
        where = _log_bug()
        told = f"the details are in {where}" if where else "PARLEY_DEBUG=1 shows the details"
        return _fail(args, f"an error inside Parley ({type(exc).__name__}: {exc}); {told}")


def _log_bug() -> Path | None:
    """Append the exception being handled to the data folder's logs/parley-cli.log."""
    import traceback
    from datetime import datetime

    from desktop.config.paths import data_dir

    path = data_dir() / "logs" / "parley-cli.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"--- {datetime.now().isoformat(timespec='seconds')} {sys.argv!r}\n")
            log.write(traceback.format_exc())
    except OSError:
        return None
    return path


if __name__ == "__main__":
    sys.exit(main())
