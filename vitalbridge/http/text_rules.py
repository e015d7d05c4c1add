"""The characters text fields accept, as regular expressions the OpenAPI document shows.

One source for both sides: a field's validator and its documented ``pattern`` are built
from the same classes below, so what the document promises is what the API does.
The patterns are written in the subset of syntax that ECMA-262 (JSON Schema) and
Python's ``re`` (the tools that check them) read alike, anchored with ``^`` and ``$``;
``(?!\\n)`` keeps Python's ``$`` from matching before a final newline.
"""

from __future__ import annotations

# C0 controls, DEL and C1 controls; a single line also refuses the line and paragraph
# separators. Multi-line text keeps tab, line feed and carriage return.
_LINE_FORBIDDEN = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_LINES_FORBIDDEN = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
# Text that is tidied (whitespace collapsed to single spaces) may hold any whitespace,
# controls among it (tab, line feed, \x1c-\x1f, \x85); what it may not hold are the
# other controls and the format characters (Unicode category Cf: soft hyphen,
# zero-width and bidirectional marks), which make two names that look alike differ.
_TIDY_FORBIDDEN = (r"\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u0600-\u0605\u061c\u06dd"
                   r"\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
                   r"\u2066-\u206f\ufeff\ufff9-\ufffb"
                   "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
                   "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
LETTER = r"[^\W\d_]"  # what str.isalpha() calls a letter, and numerals that are not digits
LETTER_OR_DIGIT = r"[^\W_]"


_WHITESPACE = r"\s"


def _class(forbidden: str, *, visible: bool = False) -> str:
    return "[^" + (_WHITESPACE if visible else "") + forbidden + "]"


def line_chars() -> str:
    """The characters of one line."""
    return _class(_LINE_FORBIDDEN)


def lines_chars() -> str:
    """The characters of text of several lines."""
    return _class(_LINES_FORBIDDEN)


def tidy_chars() -> str:
    """The characters of text whose whitespace is collapsed."""
    return _class(_TIDY_FORBIDDEN)


def line(*, required: bool = False) -> str:
    """One line of text; ``required``: with something visible in it."""
    return containing(_class(_LINE_FORBIDDEN), _class(_LINE_FORBIDDEN, visible=True)
                       if required else None)


def lines(*, required: bool = False) -> str:
    """Text of several lines; ``required``: with something visible in it."""
    return containing(_class(_LINES_FORBIDDEN), _class(_LINES_FORBIDDEN, visible=True)
                       if required else None)


def trimmed_line(*, required: bool = False) -> str:
    """One line once the whitespace around it is stripped."""
    visible, inner = _class(_LINE_FORBIDDEN, visible=True), _class(_LINE_FORBIDDEN)
    core = f"{visible}(?:{inner}*{visible})?"
    return rf"^\s*{core}\s*$" if required else rf"^\s*(?:{core})?\s*$"


def tidy(*, required: bool = False, must_hold: str | None = None) -> str:
    """Text whose whitespace is collapsed; ``must_hold``: a class one character must be
    in (a letter), else ``required``: something visible."""
    allowed = _class(_TIDY_FORBIDDEN)
    needed = must_hold or (_class(_TIDY_FORBIDDEN, visible=True) if required else None)
    return containing(allowed, needed)


def containing(allowed: str, needed: str | None) -> str:
    """Only ``allowed`` characters, one of them in ``needed`` (when given)."""
    if needed is None:
        return f"^{allowed}*(?!\\n)$"
    return f"^{allowed}*{needed}{allowed}*(?!\\n)$"
