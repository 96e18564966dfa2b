"""Checks for the course's "On your own" exercises.

Every ``check_*`` function prints ✓ when the answer is right, or a hint that names
what is wrong ("you forgot the GUID", "that is the hex digest ..."), and returns
True or False. A wrong answer never raises: a learner should read a hint, not a
traceback. The right answers are computed by ``wsdemo.wire`` or read from the tap's
recording of the live lab, never typed in here.

Each exercise asks for something the cell above it does not already show: a
prediction, or a few lines of code the notebook leaves out. ``check_close_codes``
sends frames to the live server, so it is awaited; the others are plain calls.

``solution(name)`` prints a worked solution when you want to compare or are stuck.

The package, by notebook: ``start`` (00), ``handshake`` (02), ``frames`` (03),
``costs`` (01, 04, 06 and 09: bandwidth, payback, machines), ``build`` (05 and 07),
``internet`` (08); ``solutions`` holds every worked solution, ``_hints`` what the checks share.

    >>> from wsdemo import exercises
    >>> exercises.check_accept(None, "dGhlIHNhbXBsZSBub25jZQ==")   # doctest: +ELLIPSIS
    ✗ No answer yet...
    False
"""

from .build import CHAT_LINE, check_escape, check_fragmenter
from .costs import check_bandwidth, check_machines, check_payback, machines_needed
from .frames import BROKEN_FRAMES, FIELDS, NO_CLOSE, NO_CODE, check_close_codes, check_frame_fields, check_unmask
from .handshake import RFC_KEY, SAMPLE_KEYS, check_accept, check_upgrade_request
from .internet import ORIGIN_CASES, check_origin_rule, check_ping_interval
from .solutions import SOLUTIONS, solution
from .start import FIRST_MESSAGE, INSTALL, check_environment, check_framing

__all__ = [
    "check_environment", "check_framing",                                  # 00
    "check_bandwidth",                                                     # 01 and 06
    "check_accept", "check_upgrade_request",                               # 02
    "check_frame_fields", "check_unmask", "check_close_codes",             # 03
    "check_payback",                                                       # 04
    "check_escape",                                                        # 05
    "check_fragmenter",                                                    # 07
    "check_origin_rule", "check_ping_interval",                            # 08
    "check_machines", "machines_needed",                                   # 09
    "solution", "SOLUTIONS", "FIELDS", "BROKEN_FRAMES", "NO_CODE", "NO_CLOSE", "CHAT_LINE", "ORIGIN_CASES",
    "RFC_KEY", "SAMPLE_KEYS", "FIRST_MESSAGE", "INSTALL",
]
