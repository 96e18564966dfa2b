"""The teacher's controls for a classroom server: who is connected, kick, mute, the name
"Teacher", and a new join token. Every button calls one public method of the server
(``kick``, ``mute``/``unmute``, ``lock_name``/``unlock_name``, ``rotate_token``), so what
it does is what a cell would do; what it did shows on the wire (close frames, the muted
student's error event) and so in ConnectionsPanel and FrameInspector.
"""

from __future__ import annotations

import html

import ipywidgets as W

from .base import Live


class ModerationPanel(Live):
    """Moderation for ``server`` (a running classroom server), refreshed as people come
    and go. Pick a connection, then Kick (1008 with the reason typed), Mute or Unmute its
    name; the checkbox keeps "Teacher" for your own connections; "New join link" rotates
    the token (everyone on the old link is closed with 4001) and shows the new card."""

    def __init__(self, server):
        self.server = server
        self._who = W.Select(description="Who", rows=8, layout=W.Layout(width="100%"))
        self._reason = W.Text(description="Reason", placeholder="shown on the student's page")
        self._kick = W.Button(description="Kick", button_style="danger", tooltip="close with 1008")
        self._mute = W.Button(description="Mute name")
        self._unmute = W.Button(description="Unmute name")
        self._lock = W.Checkbox(value=server.is_locked("Teacher"),
                                description='Keep the name "Teacher" for me')
        self._rotate = W.Button(description="New join link", button_style="warning",
                                tooltip="a new token: everyone on the old link must rejoin (4001)")
        self._said = W.HTML()
        self._card = W.HTML()
        super().__init__([W.HTML("<b>Moderation</b>"), self._who, self._reason,
                          W.HBox([self._kick, self._mute, self._unmute]), self._lock,
                          self._rotate, self._said, self._card])
        self.add_class("wsdemo-moderation")
        self._kick.on_click(lambda _b: self.kick())
        self._mute.on_click(lambda _b: self.mute(True))
        self._unmute.on_click(lambda _b: self.mute(False))
        self._rotate.on_click(lambda _b: self.rotate())
        self._lock.observe(self._on_lock, names="value")
        tap = server.tap
        if tap is not None:  # a join shows once its handshake is through: watch events too
            self._unsubs.append(tap.subscribe(lambda _e: self._batcher.poke()))
            self._unsubs.append(tap.subscribe_connections(lambda _c: self._batcher.poke()))
        self.flush()

    # -- actions (the buttons call these; a cell may too) --------------------------------

    @property
    def choices(self) -> list[tuple[str, int]]:
        """The connections to pick from, as (label, connection id)."""
        return list(self._who.options)

    def pick(self, connection_id: int) -> None:
        """Pick a connection (what clicking its line does); ValueError if it is not listed."""
        if connection_id not in {v for _l, v in self._who.options}:
            raise ValueError(f"no connection #{connection_id} to pick; listed: "
                             f"{', '.join(f'#{v}' for _l, v in self._who.options) or 'none'}")
        self._who.value = connection_id

    def _picked(self):
        wanted = self._who.value
        return next((p for p in self.server.participants() if p.id == wanted), None)

    def kick(self, reason: str | None = None) -> int:
        """Close the picked connection with 1008 and ``reason`` (default: the one typed)."""
        who = self._picked()
        if who is None:
            return self._say("pick a connection first")
        if reason is not None:
            self._reason.value = reason
        n = self.server.kick(who.id, self._reason.value.strip())
        self._say(f"kicked #{who.id} {who.name or who.endpoint}: {n} connection closed with 1008")
        return n

    def mute(self, on: bool = True) -> int:
        who = self._picked()
        if who is None or not who.name:
            return self._say("pick a chat connection (one with a name) first")
        n = self.server.mute(who.name) if on else self.server.unmute(who.name)
        self._say(f"{'muted' if on else 'unmuted'} {who.name!r} ({n} connection(s) told)")
        self._batcher.poke()
        return n

    def rotate(self):
        card = self.server.rotate_token()
        self._card.value = card._repr_html_()
        self._say("new join link: everyone on the old one was closed with 4001 and must rejoin")
        return card

    def keep_teacher(self, on: bool = True) -> None:
        """Keep the name "Teacher" for your own connections (what the checkbox does)."""
        self._lock.value = on

    def _on_lock(self, change) -> None:
        if change["new"]:
            n = self.server.lock_name("Teacher")
            self._say(f'"Teacher" is kept for your connections ({n} other(s) closed)')
        else:
            self.server.unlock_name("Teacher")
            self._say('anyone may call themselves "Teacher" now')

    def _say(self, text: str) -> int:
        self._said.value = f"<span class='wsdemo-moderation-said'>{html.escape(text)}</span>"
        return 0

    # -- view ----------------------------------------------------------------------------

    @property
    def said_html(self) -> str:
        """What the last action did, in words."""
        return self._said.value

    @property
    def card_html(self) -> str:
        """The join card of the latest new join link ('' before any)."""
        return self._card.value

    def _render(self) -> None:
        if not self.server.running:
            self._who.options = []
            return
        people = self.server.participants()
        picked = self._who.value
        with self.hold_sync():
            self._who.options = [(str(p), p.id) for p in people if p.id is not None]
            if picked in {p.id for p in people}:
                self._who.value = picked

    def __repr__(self) -> str:
        if not self.server.running:
            return "ModerationPanel: the server is stopped"
        people = self.server.participants()
        muted = sum(p.muted for p in people)
        locked = '"Teacher" locked' if self.server.is_locked("Teacher") else '"Teacher" open to all'
        return (f"ModerationPanel: {len(people)} open connection{'s' if len(people) != 1 else ''}, "
                f"{muted} muted, {locked}")
