"""Screenshots of the feedback, model-manager and quick-ask wiring, answered by the fake engine.

    .venv/bin/python tools/wire_screenshots.py [--out /tmp]

Writes wire-feedback.png (thumbs and a content-filter banner), wire-compare.png (the compare
dialog reached with "Alternatives…"), wire-models.png (File > Models…) and wire-quick-ask.png.
Offscreen by default (no display needed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="parley-wire-shots-"))
    os.environ["PARLEY_DATA_DIR"] = str(tmp / "data")  # never the user's real history
    os.environ["PARLEY_CACHE_DIR"] = str(tmp / "cache")

    from keyring.backends import fail
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.config.settings import Settings
    from desktop.convert.library import ModelLibrary
    from desktop.engine.types import SamplingParams
    from desktop.feedback import FeedbackDraft, TokenStore
    from desktop.services.chat_session import ChatDefaults
    from desktop.services.engine_host import EngineHost
    from desktop.services.feedback_service import FeedbackService
    from desktop.store import Store, group_for_sidebar
    from desktop.ui.main_window import MainWindow, ModelActions
    from desktop.ui.theme import apply_theme
    from tests.fakes import FakeEngine

    app = QApplication(sys.argv[:1])
    apply_theme(app, "light")
    args.out.mkdir(parents=True, exist_ok=True)

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def until(check: object, limit_ms: int = 10000) -> None:
        waited = 0
        while not check() and waited < limit_ms:  # type: ignore[operator]
            wait(20)
            waited += 20

    library = ModelLibrary(tmp / "models")
    for name, precision, acc in (
        ("smollm2-135m-instruct", "q8_0", None),
        ("my-llama-int4", "int4", {"reference": "my-llama fp32", "top1_agreement": 0.962,
                                   "mean_kl": 0.0214, "max_kl": 0.31}),
        ("my-llama-int8", "int8", {"reference": "my-llama fp32", "top1_agreement": 0.994,
                                   "mean_kl": 0.0011, "max_kl": 0.02}),
    ):  # fmt: skip
        folder = library.root / name
        folder.mkdir(parents=True)
        (folder / "tokenizer.json").write_text("{}")
        (folder / "model.onnx").write_bytes(b"\0" * (90_000_000 if "int4" in name else 140_000_000))
        manifest: dict[str, object] = {"name": name, "precision": precision}
        if acc:
            manifest["accuracy"] = acc
        (folder / "parley.json").write_text(json.dumps(manifest))
    library.set_default("smollm2-135m-instruct")

    settings = Settings.load()
    settings.update({"filter.action.harassment": "warn"})
    store = Store.open(tmp / "history.sqlite3")
    feedback = FeedbackService(store, settings, TokenStore(fail.Keyring()))
    engine = FakeEngine(
        replies=[
            "Sure. Here is a short plan:\n\n1. Warm up for 5 minutes.\n2. Run 20 minutes at an "
            "easy pace.\n3. Stretch.",
            "Honestly, you are worthless and nobody will ever love you.",
            "Try this: walk 10 minutes, jog 1 minute, repeat four times.",
            "Start with three 10-minute runs a week and add 5 minutes each week.",
        ],
        delay_s=0.004,
    )
    engine.name = "SmolLM2-135M-Instruct"
    host = EngineHost()
    window = MainWindow(
        store,
        host,
        lambda: ChatDefaults("", SamplingParams()),
        ModelActions(load=lambda _p: engine, library=lambda: library),
        group_for_sidebar,
        feedback=feedback,
    )
    window.resize(1100, 800)
    window.show()
    window.load_model(library.get("smollm2-135m-instruct").path)
    until(lambda: host.info is not None)
    tab = window.current_tab()
    assert tab is not None
    for question in ("Give me a running plan for beginners.", "What do you think of me?"):
        tab.composer.setPlainText(question)
        tab.send()
        until(lambda: tab.session.state == "idle")
        wait(100)
    first_answer = tab.view.message_widgets()[1]
    feedback.rate(first_answer.message_id, FeedbackDraft(rating=1, reasons=(), comment="clear"))
    wait(300)
    shots = []
    path = args.out / "wire-feedback.png"
    window.grab().save(str(path))
    shots.append(path)

    # compare, reached with the Alternatives… button of the first answer
    tab.view.message_widgets()[1].alternatives_button.click()
    until(lambda: tab.compare_dialog is not None)
    dialog = tab.compare_dialog
    assert dialog is not None
    wait(200)
    path = args.out / "wire-compare.png"
    dialog.grab().save(str(path))
    shots.append(path)
    dialog.reject()

    manager = window.open_model_manager()
    assert manager is not None
    manager.select("my-llama-int4")
    wait(200)
    path = args.out / "wire-models.png"
    manager.grab().save(str(path))
    shots.append(path)
    manager.reject()

    engine.replies = ["The capital of Australia is **Canberra**, not Sydney."]
    engine._turn = 0
    quick = window.open_quick_ask()
    quick.input.setText("What is the capital of Australia?")
    quick.ask()
    until(lambda: quick.session is not None and quick.session.state == "idle")
    wait(200)
    path = args.out / "wire-quick-ask.png"
    quick.grab().save(str(path))
    shots.append(path)

    window.close_for_quit()
    host.shutdown()
    feedback.shutdown()
    store.close()
    for shot in shots:
        print(f"{shot}  {shot.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
