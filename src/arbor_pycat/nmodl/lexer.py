"""Tokens of an NMODL file, each with its line number.

Comments (``: ...``, ``? ...`` to the end of the line, ``COMMENT ... ENDCOMMENT``)
and ``TITLE`` lines are dropped. ``VERBATIM`` blocks are kept as one token so
that the parser can refuse them with their line.
"""
import re
from dataclasses import dataclass

from .errors import NmodlError


@dataclass(frozen=True)
class Token:
    kind: str      # "name", "number", "op", "verbatim", "eof"
    text: str
    line: int


_TOKEN = re.compile(r"""
    (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op><->|->|<<|==|!=|<=|>=|&&|\|\||[-+*/^(){}<>=,'~!:?\[\]@])
""", re.VERBOSE)


def tokenize(text, filename="<nmodl>"):
    """Split ``text`` into tokens; raises :class:`NmodlError` on a character NMODL has not."""
    tokens = []
    lines = text.splitlines()
    k = 0
    while k < len(lines):
        line_no = k + 1
        line = lines[k]
        stripped = line.strip()
        head = stripped.split(None, 1)[0] if stripped else ""
        if head == "TITLE":
            k += 1
            continue
        if head == "COMMENT":
            while k < len(lines) and lines[k].strip().split(None, 1)[:1] != ["ENDCOMMENT"]:
                k += 1
            k += 1
            continue
        if head == "VERBATIM":
            tokens.append(Token("verbatim", "VERBATIM", line_no))
            while k < len(lines) and lines[k].strip() != "ENDVERBATIM":
                k += 1
            k += 1
            continue
        pos = 0
        while pos < len(line):
            c = line[pos]
            if c.isspace():
                pos += 1
                continue
            if c in ":?":                 # comment to the end of the line
                break
            m = _TOKEN.match(line, pos)
            if m is None:
                raise NmodlError(f"unexpected character {c!r}", filename, line_no)
            kind = m.lastgroup
            tokens.append(Token(kind, m.group(kind), line_no))
            pos = m.end()
        k += 1
    tokens.append(Token("eof", "", len(lines) + 1))
    return tokens
