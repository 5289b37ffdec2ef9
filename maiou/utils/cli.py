"""How every command line of the project ends: one line for an expected error, a traceback
only when asked for.

An *expected* error is one the user can fix: a missing or unreadable file, a bad checkpoint,
an unknown config key or run name. Such errors derive from :class:`UserError` (or are an
``OSError`` about a path) and end the program with ``PROG: error: MESSAGE`` on stderr and
exit status 2. Anything else is a bug and keeps its traceback. ``--debug`` anywhere on the
command line (or ``MAIOU_DEBUG=1``) shows the traceback of expected errors too.

Every command's ``main`` is decorated with ``@entry_point(PROG)``; its ``__main__`` block is
``sys.exit(main())``.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable, Sequence

ERROR_STATUS = 2  # as argparse's usage errors
DEBUG_FLAG = "--debug"
# For argparse's epilog: the flag is taken off the command line before argparse sees it.
DEBUG_HELP = "--debug (anywhere on the command line): show the traceback of an expected error too"


class UserError(Exception):
    """An error the user can fix; its message names the file/key and what to do."""


def expected(exc: BaseException) -> bool:
    """Whether ``exc`` is an expected error (printed in one line) rather than a bug."""
    return isinstance(exc, (UserError, OSError))


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (continuation lines joined)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def run(
    main: Callable[[list[str]], int | None], prog: str, argv: Sequence[str] | None = None
) -> int:
    """Call ``main(argv)`` (``argv`` without ``--debug``) and return its exit status; an
    expected error returns ERROR_STATUS after printing ``prog: error: message``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv or os.environ.get("MAIOU_DEBUG", "") not in ("", "0")
    argv = [arg for arg in argv if arg != DEBUG_FLAG]
    try:
        return main(argv) or 0
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug or not expected(exc):
            raise
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return ERROR_STATUS


def entry_point(prog: str):
    """Decorator for a command line's ``main(argv)``: the decorated ``main(argv=None)``
    returns an exit status (see :func:`run`), for ``sys.exit(main())``."""

    def wrap(main: Callable[[list[str]], int | None]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapped(argv: Sequence[str] | None = None) -> int:
            return run(main, prog, argv)

        return wrapped

    return wrap
