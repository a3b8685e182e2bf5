"""Commands run with a pseudo-terminal as their controlling terminal, typed into as a user would."""

from __future__ import annotations

import os
import pty
import select
import time


def read_until(fd: int, needle: bytes, deadline: float) -> bytes:
    seen = b""
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


class Terminal:
    """``argv`` started on a new pseudo-terminal; ``expect`` a prompt, ``type`` an answer."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child: the pty is its controlling terminal
            os.execve(argv[0], argv, env)
        self.deadline = time.monotonic() + 120  # a hung command fails the test rather than hang it
        self.transcript = b""

    def expect(self, needle: str) -> str:
        """What the command wrote up to and including ``needle`` (all of it if it never came)."""
        seen = read_until(self.fd, needle.encode(), self.deadline)
        self.transcript += seen
        return seen.decode("utf-8", "replace")

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def finish(self) -> tuple[int, str]:
        """The exit code and the whole transcript, once the command has ended."""
        self.transcript += read_until(self.fd, b"\x00never", self.deadline)
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status), self.transcript.decode("utf-8", "replace")
