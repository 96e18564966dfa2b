"""The browser pages in ``assets/``, served by the same server (and so through the tap)."""

from __future__ import annotations

from pathlib import Path

import tornado.web

from .base import Guarded

ASSETS = Path(__file__).resolve().parents[3] / "assets"


class StaticHandler(Guarded, tornado.web.StaticFileHandler):
    def initialize(self, state, path: str = str(ASSETS), default_filename: str = "index.html"):  # type: ignore[override]
        self.state = state
        tornado.web.StaticFileHandler.initialize(self, path=path, default_filename=default_filename)

    async def get(self, path: str, include_body: bool = True) -> None:
        if "\x00" in path:  # the file system refuses it with a ValueError, a 500
            self.refuse(400, "a path cannot contain a NUL byte (%00)")
            return
        await super().get(path, include_body)

    def set_extra_headers(self, path: str) -> None:
        # The pages are small and change while developing: always revalidate.
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")
