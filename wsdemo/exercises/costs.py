"""What the wire costs, counted: bandwidth (notebooks 01 and 06), when a handshake has paid
back (04), machines for a million users (09). The formulas are ``experiments``' own."""

from __future__ import annotations

import math
from typing import Any

from .. import experiments
from ._hints import NotANumber, as_number, plural, say


def check_bandwidth(answer: Any, clients: int, bytes_per_message: int, per_second: float = 1.0,
                    unit: str = "2^20") -> bool:
    """Megabits per second for ``clients`` each sending ``bytes_per_message`` ``per_second`` times.

    ``unit`` is "2^20" (Lubbers & Greco's table: 1 Mbit = 1,048,576 bits) or "10^6".
    """
    bits = experiments.bits_per_second(clients, bytes_per_message, per_second)
    right = bits / experiments.MEGABIT[unit]

    def close(x: float) -> bool:
        return math.isclose(x, right, rel_tol=0.01)

    if answer is None:
        return say(False, "No answer yet: clients × bytes × messages per second × 8 bits, "
                          f"divided by {unit} for megabits.")
    if not isinstance(answer, (int, float)) or isinstance(answer, bool):
        return say(False, f"Give a number of Mbps, not {type(answer).__name__}.")
    if not math.isfinite(answer):
        return say(False, f"{answer!r} is not a number of megabits; give a finite number.")
    if close(answer):
        return say(True, f"{right:,.3f} Mbps (1 Mbit = {unit} bits).")
    other = "10^6" if unit == "2^20" else "2^20"
    if math.isclose(answer, bits / experiments.MEGABIT[other], rel_tol=0.01):
        return say(False, f"Right method, other megabit: this table divides by {unit}, not {other}.")
    if math.isclose(answer * 8, right, rel_tol=0.01):
        return say(False, "That is megabytes: multiply by 8 for bits.")
    if math.isclose(answer, bits, rel_tol=0.01) or math.isclose(answer, bits / 8, rel_tol=0.01):
        return say(False, f"Now divide by {unit} to get megabits.")
    return say(False, f"Not quite: {clients:,} × {bytes_per_message} bytes × {per_second:g}/s × 8, "
                      f"divided by {unit}.")


def _payback_inputs(rows: Any) -> tuple[float, float, float] | str:
    """Handshake bytes, WebSocket and short-polling overhead per update, or a hint."""
    hint = ("Pass the rows that experiments.compare_polling measured above (rows), with a "
            "'websocket' and a 'short polling' row.")
    if not isinstance(rows, experiments.Comparison):
        return hint
    try:
        ws, poll = rows["websocket"], rows["short polling"]
    except KeyError:
        return hint
    numbers = float(ws.setup_bytes), ws.overhead_bytes_per_update, poll.overhead_bytes_per_update
    if not all(math.isfinite(x) and x >= 0 for x in numbers):
        return hint
    return numbers


def _cost(n: float, handshake: float, ws: float, poll: float) -> str:
    return (f"after {plural(n, 'update')} the WebSocket has cost {handshake + n * ws:,.0f} bytes of overhead "
            f"({handshake:,.0f} of handshake + {n:g} × {ws:.1f}), short polling {n * poll:,.0f} ({n:g} × {poll:.1f})")


def check_payback(answer: Any, rows: Any) -> bool:
    """After how many updates has the WebSocket's handshake paid for itself, against short polling?
    (Overhead bytes only: HTTP heads and frame headers; the updates themselves cost both the same.)"""
    inputs = _payback_inputs(rows)
    if isinstance(inputs, str):
        return say(False, inputs)
    handshake, ws, poll = inputs
    right = experiments.payback(handshake, ws, poll)
    if answer is None:
        return say(False, "No answer yet. The WebSocket pays its handshake once, then a little per update; "
                          "short polling pays a request and an answer per update. Find the first number of "
                          "updates after which the WebSocket's total is not larger.")
    if isinstance(answer, str) and answer.strip().isdigit():
        return say(False, f"Give the number itself, not the text {answer!r}.")
    number = as_number(answer, "The number of updates")
    if isinstance(number, NotANumber):
        return say(False, number)
    if right is None:
        return say(False, "In this measurement short polling cost no more per update than the WebSocket; "
                          "run the comparison again.")
    if number == right:
        return say(True, f"{right}: {_cost(right, handshake, ws, poll)}; one update fewer and the WebSocket "
                         "would still be behind. From then on every update saves "
                         f"{poll - ws:.0f} bytes.")
    if number != int(number):
        return say(False, f"{number:g} is not a whole number of updates; the WebSocket is ahead only after a "
                          "whole update: round up.")
    number = int(number)
    if number < 1:
        return say(False, f"{number} updates: before any update the WebSocket has already paid its "
                          f"{handshake:,.0f}-byte handshake, and polling nothing.")
    if number < right:
        why = ""
        if number == experiments.payback(handshake, 0, poll):
            why = (f" ({number} is the answer without the WebSocket's own overhead per update, {ws:.1f} bytes "
                   "of frame headers: count it too.)")
        elif number == math.floor(handshake / (poll - ws)):
            why = (f" ({number} is {handshake:,.0f} / {poll - ws:.1f} rounded down; the WebSocket is ahead only "
                   "once the whole handshake is paid: round up.)")
        return say(False, f"Too early: {_cost(number, handshake, ws, poll)}.{why}")
    return say(False, f"Later than needed: {_cost(number - 1, handshake, ws, poll)}, so the WebSocket was "
                      f"already ahead after {number - 1}.")


def machines_needed(*, users: int, room_size: int, seconds_between_messages: float,
                    frames_per_core_second: float, bytes_per_connection: float, cores: int,
                    ram_bytes: float, busy: float) -> dict[str, float]:
    """The chat projection of notebook 09: frames per second, and the machines the CPU and the
    memory each need (not rounded). Every member of a room gets each message, the sender too."""
    frames = users / seconds_between_messages * room_size
    return {"frames_per_second": frames,
            "cpu": frames / (frames_per_core_second * cores * busy),
            "memory": users * bytes_per_connection / (ram_bytes * busy)}


def check_machines(answer: Any, *, users: int, room_size: int, seconds_between_messages: float,
                   frames_per_core_second: float, bytes_per_connection: float, cores: int,
                   ram_bytes: float, busy: float) -> bool:
    """Machines a chat of ``users`` needs: the larger of the CPU's and the memory's, rounded up."""
    need = machines_needed(users=users, room_size=room_size,
                           seconds_between_messages=seconds_between_messages,
                           frames_per_core_second=frames_per_core_second,
                           bytes_per_connection=bytes_per_connection, cores=cores,
                           ram_bytes=ram_bytes, busy=busy)
    cpu, memory = need["cpu"], need["memory"]
    right = max(1, math.ceil(max(cpu, memory)))
    value = as_number(answer, "Machines")
    if isinstance(value, NotANumber):
        return say(False, value + " Count the frames per second (each message goes to every "
                                    "member of its room), then the machines the CPU needs and the "
                                    "machines the memory needs; the larger, rounded up.")
    if value == right:
        bound = "CPU" if cpu >= memory else "memory"
        return say(True, f"{right:,} machines: {need['frames_per_second']:,.0f} frames a second need "
                         f"{cpu:.2f} machines of CPU, {users:,} connections need {memory:.2f} of "
                         f"memory; the {bound} decides.")

    def near(x: float) -> bool:
        return math.isclose(value, x, rel_tol=0.01)

    if value != int(value) and near(max(cpu, memory)):
        return say(False, f"Right sum, but machines come whole: round {value:g} up.")
    if cpu < memory and (near(cpu) or value == math.ceil(cpu)):
        return say(False, "That is what the CPU needs; the connections' memory needs more "
                          "machines here: users × bytes per connection ÷ (RAM × the busy share).")
    if memory < cpu and (near(memory) or value == math.ceil(memory)):
        return say(False, "That is what the memory needs; the frames need more CPU here: "
                          "frames per second ÷ (frames per core-second × cores × the busy share).")
    if near(max(cpu, memory) * busy) or value == math.ceil(max(cpu, memory) * busy):
        return say(False, f"That plans each machine 100% busy; the budget says at most {busy:.0%}: "
                          "divide by it.")
    if cpu >= memory and (near(cpu / room_size) or value == max(1, math.ceil(max(cpu / room_size, memory)))):
        return say(False, f"Each message is written to every member of its room: multiply the "
                          f"messages per second by the room size ({room_size}).")
    if cpu >= memory and (near(cpu * (room_size - 1) / room_size)
                          or value == math.ceil(cpu * (room_size - 1) / room_size)):
        return say(False, "The lab's chat sends each message back to its sender too: "
                          f"{room_size} frames per message, not {room_size - 1}.")
    if near(cpu * cores) or value == math.ceil(cpu * cores):
        return say(False, f"That counts cores, not machines: a machine has {cores}.")
    return say(False, f"Not quite: frames per second = {users:,} ÷ {seconds_between_messages:g} s × "
                      f"{room_size}; CPU machines = that ÷ (frames per core-second × {cores} × {busy:g}); "
                      f"memory machines = {users:,} × bytes per connection ÷ (RAM × {busy:g}); "
                      "the larger, rounded up.")
