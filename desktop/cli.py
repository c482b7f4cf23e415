"""``parley ...``: headless commands over the domain packages.

Every failure a user can cause ends in one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from desktop.convert.errors import ConversionError
from desktop.engine.bundle import SAMPLING_KEYS
from desktop.engine.types import ChatMessage, Finished, SamplingParams, TextDelta

EXIT_ERROR = 1
EXIT_CANCELLED = 130


class CliError(Exception):
    """One line for the user, exit code 1."""


class ProgressBar:
    """``stage  [#####.....]  42%`` on one stderr line (plain lines when not a terminal)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._stage = ""
        self._last = -1

    def __call__(self, stage: str, fraction: float) -> None:
        pct = int(fraction * 100)
        if stage != self._stage:
            if self._stage and self.tty:
                self.stream.write("\n")
            self._stage, self._last = stage, -1
        if pct == self._last or (not self.tty and pct not in (0, 100) and pct % 25):
            return
        self._last = pct
        bar = "#" * (pct // 4) + "." * (25 - pct // 4)
        line = f"{stage:<9} [{bar}] {pct:3d}%"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self._stage:
            self.stream.write("\n")


# -- models -------------------------------------------------------------------------------
def _library() -> Any:
    from desktop.convert.library import ModelLibrary

    return ModelLibrary()


def _damage(path: Path) -> str | None:
    from desktop.engine.integrity import model_damage

    return model_damage(path)


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
            lib.remove(STARTER_NAME)
        bar = ProgressBar()
        model = install_starter(lib, progress=bar)
        bar.done()
        print(f"Installed {model.name} ({model.size_bytes / 1e6:.0f} MB) at {model.path}")
        return 0
    if action == "import":
        bar = ProgressBar()
        model = lib.import_path(
            Path(args.target), args.name, progress=bar, precision=args.precision
        )
        bar.done()
        print(f"Imported {model.name} at {model.path}")
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
                    "name": m.name,
                    "path": str(m.path),
                    "default": m.is_default,
                    "size_bytes": m.size_bytes,
                    "damaged": _damage(Path(m.path)),
                    **m.manifest,
                },
                indent=2,
            )
        )
        return 0
    if action == "remove":
        lib.remove(args.target)
        print(f"Removed {args.target}")
        return 0
    if action == "default":
        lib.set_default(args.target)
        print(f"Default model: {args.target}")
        return 0
    raise CliError(f"unknown action '{action}'")


# -- generation ---------------------------------------------------------------------------
def _model_path(name: str | None) -> Path:
    candidate = Path(name) if name else None
    if candidate is not None and candidate.is_dir():
        return candidate
    lib = _library()
    chosen = name or lib.default_name()
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


def _fill_defaults(args: argparse.Namespace) -> None:
    """Options not given on the command line come from the app's settings, so the CLI and the
    window answer alike."""
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
    if args.system is None and not getattr(args, "raw", False):
        args.system = settings.get_str("chat.default_system_prompt") or None
    if args.device is None:
        args.device = settings.get_str("model.device")
    if args.threads is None:
        args.threads = settings.get_int("model.threads")
    if getattr(args, "context", None) is None:
        args.context = settings.get_int("model.context_length")


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
    )


def _stream(events: Any, out: TextIO | None, cancel: threading.Event) -> dict[str, Any]:
    text: list[str] = []
    ids: list[int] = []
    result: dict[str, Any] = {"dropped_messages": 0}
    try:
        for ev in events:
            if isinstance(ev, TextDelta):
                if ev.token_id >= 0:
                    ids.append(ev.token_id)
                text.append(ev.text)
                if out is not None and ev.text:
                    out.write(ev.text)
                    out.flush()
            elif isinstance(ev, Finished):
                result.update(finish_reason=ev.reason, stats=ev.stats, error=ev.error)
            else:
                result["dropped_messages"] = ev.dropped_messages
    except KeyboardInterrupt:
        cancel.set()
        for ev in events:  # let the engine finish its cancelled turn cleanly
            if isinstance(ev, Finished):
                result.update(finish_reason=ev.reason, stats=ev.stats, error=ev.error)
    result["text"], result["token_ids"] = "".join(text), ids
    return result


def cmd_ask(args: argparse.Namespace) -> int:
    _fill_defaults(args)
    engine = _load(args)
    _apply_recommendation(args, engine)
    params = _params(args)
    cancel = threading.Event()
    prompt_ids: list[int]
    if args.raw:
        prompt_ids = engine.encode_text(args.prompt)
        events = engine.generate_ids(prompt_ids, params, cancel)
    else:
        messages = ([ChatMessage("system", args.system)] if args.system else []) + [
            ChatMessage("user", args.prompt)
        ]
        prompt_ids = engine.encode_chat(messages)
        events = engine.generate(messages, params, cancel)
    result = _stream(events, None if args.json else sys.stdout, cancel)
    stats = result.get("stats")
    if args.json:
        payload = {
            "text": result["text"],
            "token_ids": result["token_ids"],
            "prompt_tokens": stats.prompt_tokens if stats else len(prompt_ids),
            "finish_reason": result.get("finish_reason"),
            "error": result.get("error"),
            "stats": stats.__dict__ if stats else None,
            "model": engine.info.name,
        }
        print(json.dumps(payload, ensure_ascii=False))
    else:
        print()
        if result.get("error"):
            print(f"parley: error: {result['error']}", file=sys.stderr)
        if stats and args.verbose:
            print(
                f"[{stats.generated_tokens} tokens, {stats.decode_tok_s:.1f} tok/s, "
                f"TTFT {stats.ttft_s * 1000:.0f} ms, {stats.provider}]",
                file=sys.stderr,
            )
    if result.get("finish_reason") == "error":
        return EXIT_ERROR
    return EXIT_CANCELLED if result.get("finish_reason") == "cancelled" else 0


CHAT_HELP = """Commands:
  /new              start over (the system prompt stays)
  /system [TEXT]    set the system prompt (none: remove it) and start over
  /continue         go on with the last answer (after Ctrl-C or its length limit)
  /help             this list
  /exit, /quit      quit (so do an empty line and Ctrl-D)
A message that starts with / is a command; start it with // to send a literal /."""


def cmd_chat(args: argparse.Namespace) -> int:
    _fill_defaults(args)
    stdin = sys.stdin
    engine = _load(args)
    _apply_recommendation(args, engine)
    params = _params(args)
    system: str | None = args.system or None
    history: list[ChatMessage] = []
    can_continue = False
    print(
        f"Parley — {engine.info.name} on {engine.info.provider}. "
        "Empty line or Ctrl-D quits; Ctrl-C stops an answer; /help lists commands."
    )
    while True:
        try:
            sys.stdout.write("\nyou> ")
            sys.stdout.flush()
            line = stdin.readline()
        except KeyboardInterrupt:
            print()
            return 0
        text = line.strip()
        if not text:
            print()
            return 0
        if text.startswith("/") and not text.startswith("//"):
            command, _, rest = text[1:].partition(" ")
            command = command.lower()
            if command in ("exit", "quit", "bye"):
                return 0
            if command in ("new", "clear", "reset"):
                history, can_continue = [], False
                print("(a new conversation)")
            elif command == "system":
                system = rest.strip() or None
                history, can_continue = [], False
                print(f"(system prompt: {system!r}; a new conversation)" if system else
                      "(no system prompt; a new conversation)")  # fmt: skip
            elif command == "continue":
                if not can_continue:
                    print("(nothing to continue: the last answer ended by itself)")
                    continue
                sys.stdout.write("parley> …")
                result = _chat_turn(engine, system, history, params, args.verbose)
                if result is not None:
                    history[-1] = ChatMessage("assistant", history[-1].content + result["text"])
                    can_continue = result["finish_reason"] in ("length", "cancelled")
            elif command == "help":
                print(CHAT_HELP)
            else:
                print(f"(unknown command /{command}; /help lists them)")
            continue
        history.append(ChatMessage("user", text[1:] if text.startswith("//") else text))
        sys.stdout.write("parley> ")
        result = _chat_turn(engine, system, history, params, args.verbose)
        if result is None:
            history.pop()
            can_continue = False
            continue
        history.append(ChatMessage("assistant", result["text"]))
        can_continue = result["finish_reason"] in ("length", "cancelled") and bool(result["text"])


def _chat_turn(
    engine: Any,
    system: str | None,
    history: list[ChatMessage],
    params: SamplingParams,
    verbose: bool,
) -> dict[str, Any] | None:
    """Stream one answer to ``history`` (ending with the user's message, or with an answer to
    continue); ``None`` when it failed (the error is printed)."""
    messages = ([ChatMessage("system", system)] if system else []) + history
    cancel = threading.Event()
    started = time.perf_counter()
    result = _stream(engine.generate(messages, params, cancel), sys.stdout, cancel)
    print()
    if result.get("dropped_messages"):
        print(f"[{result['dropped_messages']} older messages left out of the context]")
    if result.get("finish_reason") == "error":
        print(f"parley: error: {result.get('error')}", file=sys.stderr)
        return None
    if result.get("finish_reason") == "length":
        print("[cut off by the length limit: /continue goes on]")
    if verbose:
        print(f"[{time.perf_counter() - started:.1f} s]", file=sys.stderr)
    return result


def cmd_bench(args: argparse.Namespace) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description="A local ChatGPT.")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="load the default (or bundled) model, answer one prompt, exit 0 or 1",
    )
    sub = parser.add_subparsers(dest="command")

    ask = sub.add_parser("ask", help="answer one prompt, streamed")
    ask.add_argument("prompt")
    _generation_args(ask)
    ask.add_argument("--raw", action="store_true", help="no chat template")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.set_defaults(func=cmd_ask)

    chat = sub.add_parser("chat", help="a conversation in the terminal")
    _generation_args(chat)
    chat.set_defaults(func=cmd_chat)

    models = sub.add_parser("models", help="list, install, import, remove models")
    models.add_argument(
        "action", choices=["list", "install", "import", "info", "remove", "default"]
    )
    models.add_argument("target", nargs="?", help="'starter', a path, or a model name")
    models.add_argument("--name", help="name for an imported model")
    models.add_argument("--if-missing", action="store_true", help="install only if absent")
    models.add_argument(
        "--precision",
        choices=["int4", "int8", "fp32"],
        help="weights of an imported Hugging Face checkpoint (default int4)",
    )
    models.set_defaults(func=cmd_models)

    bench = sub.add_parser("bench", help="compare engines on the starter model")
    bench.add_argument("--json", help="write results to this JSON file")
    bench.add_argument("--rounds", type=int, default=3)
    bench.add_argument("--threads", type=int, default=2)
    bench.add_argument("--engines", nargs="+", default=["parley", "llama.cpp", "onnxruntime-genai"])
    bench.set_defaults(func=cmd_bench)

    from desktop.cli_feedback import register as register_feedback
    from desktop.cli_transcripts import add_commands

    register_feedback(sub)
    add_commands(sub)  # export, import
    return parser


def command_names() -> set[str]:
    """The subcommands ``parley`` knows (everything else opens the window)."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


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
        parser.error(f"'models {args.action}' needs a target")
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        print("\nparley: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except (CliError, ConversionError, ValueError) as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        from desktop.engine.session import EngineLoadError

        if isinstance(exc, EngineLoadError):
            print(f"parley: error: the model could not be loaded: {exc}", file=sys.stderr)
            return EXIT_ERROR
        raise


if __name__ == "__main__":
    sys.exit(main())
