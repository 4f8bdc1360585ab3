"""A tqdm progress bar on stderr for index builds, shared by the CLI and the app's start-up."""

from __future__ import annotations

import sys
from typing import Callable


def progress_bar(description: str = "encodage") -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """(update(done, total), close()); the bar appears at the first report, so a no-op build shows nothing."""
    state = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            from tqdm import tqdm

            state["bar"] = tqdm(total=total, unit="passage", desc=description, file=sys.stderr, leave=False)
        bar = state["bar"]
        bar.update(done - bar.n)

    def close() -> None:
        if "bar" in state:
            state.pop("bar").close()

    return update, close
