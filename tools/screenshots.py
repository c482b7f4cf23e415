"""Screenshots of the main window for the README: light and dark, a conversation with code, a
table and math, answered by the fake engine (no model needed).

    .venv/bin/python tools/screenshots.py [--out docs/screenshots]

Runs with Qt's offscreen platform and grabs the window into PNGs, so it needs no display (and
no Xvfb); set QT_QPA_PLATFORM=xcb to watch it on a real screen instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ANSWER = r"""Here is a quick way to compute it in Python:

```python
import math

def compound(principal: float, rate: float, years: int) -> float:
    # interest added once a year
    return principal * (1 + rate) ** years

print(round(compound(1000, 0.05, 10), 2))  # 1628.89
```

| Years | Balance (5 %) | Balance (7 %) |
|------:|--------------:|--------------:|
| 1 | 1,050.00 | 1,070.00 |
| 5 | 1,276.28 | 1,402.55 |
| 10 | 1,628.89 | 1,967.15 |

The formula is $A = P(1 + r)^n$; with continuous compounding it becomes

$$A = P e^{r t} = \lim_{n \to \infty} P\left(1 + \frac{r}{n}\right)^{n t}$$

so **$1,000** at 5 % for 10 years gives about **$1,648.72**."""

SPLIT_QUESTION = "A regex for ISO dates?"
SPLIT_ANSWER = r"""This matches `YYYY-MM-DD` with a valid month and day range:

```python
import re

ISO_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
print(bool(ISO_DATE.match("2026-11-26")))  # True
```

It does not check that 31 February is impossible; parse with `date.fromisoformat` for that."""

QUESTION = "How does compound interest grow my savings? Show code, a table and the formula."
OLD_CHATS = ("Trip to Lisbon: 3-day plan", "Regex for ISO dates", "Sourdough starter help")
OLD_ANSWERS = {
    "Sourdough starter help": "A starter that smells of acetone is hungry: feed it twice a day "
    "with equal weights of flour and water, and keep it somewhere warm.",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="parley-shots-"))
    os.environ["PARLEY_DATA_DIR"] = str(tmp / "data")  # never the user's real history
    os.environ["PARLEY_CACHE_DIR"] = str(tmp / "cache")

    from keyring.backends import fail
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.config.settings import Settings
    from desktop.engine.types import SamplingParams
    from desktop.feedback import TokenStore
    from desktop.services.chat_session import ChatDefaults
    from desktop.services.engine_host import EngineHost
    from desktop.services.feedback_service import FeedbackService
    from desktop.store import Store, group_for_sidebar
    from desktop.ui.main_window import MainWindow, ModelActions
    from desktop.ui.theme import apply_theme
    from tests.fakes import FakeEngine

    app = QApplication(sys.argv[:1])
    args.out.mkdir(parents=True, exist_ok=True)

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    written = []
    for theme in ("light", "dark"):
        apply_theme(app, theme)
        store = Store.open(tmp / f"{theme}.sqlite3")
        for title in OLD_CHATS:
            c = store.create_conversation(title)
            asked = store.add_message(c.id, None, "user", title)
            if title in OLD_ANSWERS:
                store.add_message(c.id, asked.id, "assistant", OLD_ANSWERS[title])
        engine = FakeEngine(replies=[ANSWER, SPLIT_ANSWER], delay_s=0.008)  # about a CPU's pace
        engine.name = "SmolLM2-135M-Instruct"
        engine.context_length = 8192  # the starter model's window, on a machine without a GPU
        engine.fallback_reason = None
        host = EngineHost()
        defaults = ChatDefaults("You are a helpful assistant.", SamplingParams())
        # The feedback service as in the app (thumbs, Flag…, the Feedback menu); its
        # keychain is the "none available" one, so nothing is looked up or stored.
        feedback = FeedbackService(store, Settings.load(), TokenStore(fail.Keyring()))
        window = MainWindow(
            store, host, lambda d=defaults: d, ModelActions(load=lambda _p, e=engine: e),
            group_for_sidebar, feedback=feedback,
        )  # fmt: skip
        window.resize(1180, 860)
        window.show()
        window.load_model(Path("starter"))
        tab = window.current_tab()
        assert tab is not None
        while host.info is None:
            wait(20)
        if theme == "light":  # a new chat, and a search of the history in the sidebar
            window.sidebar.search.setText("starter")
            window.sidebar.run_search()
            wait(200)
            path = args.out / "new-chat-light.png"
            window.grab().save(str(path), "PNG", 9)
            written.append(path)
            window.sidebar.search.clear()
        tab.composer.setPlainText(QUESTION)
        tab.send()
        while tab.session.state != "idle":
            wait(20)
        tab.composer.setPlainText("Can you also show monthly compounding?")
        wait(300)
        tab.view.queue.drain()  # every code block coloured
        tab.view.scroll_to_end()
        wait(200)
        path = args.out / f"main-{theme}.png"
        window.grab().save(str(path), "PNG", 9)
        written.append(path)
        if theme == "light":  # two chats side by side (View > Split view)
            window.toggle_split()
            right = window.current_tab()
            assert right is not None
            right.composer.setPlainText(SPLIT_QUESTION)
            right.send()
            while right.session.state != "idle":
                wait(20)
            wait(300)
            right.view.queue.drain()
            path = args.out / "split-light.png"
            window.grab().save(str(path), "PNG", 9)
            written.append(path)
        window.close()
        window.deleteLater()  # gone before its store closes: the next theme restyles windows
        wait(50)
        host.shutdown()
        feedback.shutdown()
        store.close()
    for path in written:
        print(f"{path}  {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
