"""Debug logging with structlog, to standard error.

Log calls never carry a PIN or document content; the audit trail is separate.

structlog is imported at the first message that passes the level (importing it loads its
console renderer, and rich with it when installed): a command, or an idle daemon, that has
nothing to log never loads it. Modules take their logger from ``get_logger``.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


@dataclass
class _Config:
    level: int = logging.WARNING
    json: bool = False
    configured: bool = False  # configure_logging was called (until then: warnings and errors)


_config = _Config()


def configure_logging(level: str = "warning", *, json: bool = False) -> None:
    _config.level, _config.json = LEVELS.get(level, logging.WARNING), json
    _config.configured = True
    if "structlog" in sys.modules:  # already loaded (by a test capturing logs, say): configure it now
        _apply()
    # pyHanko reports through the standard logging module, with tracebacks; keep those for -v
    logging.getLogger("pyhanko").setLevel(logging.DEBUG if level == "debug" else logging.ERROR)
    # pdfminer writes a warning per oddity of a broken file (and its debug level, every token)
    logging.getLogger("pdfminer").setLevel(logging.WARNING if level == "debug" else logging.ERROR)


def is_configured() -> bool:
    """Whether logging was set up, by ``configure_logging`` or by configuring structlog directly."""
    structlog = sys.modules.get("structlog")
    return _config.configured or (structlog is not None and structlog.is_configured())


def _apply() -> None:
    import structlog

    renderer = structlog.processors.JSONRenderer() if _config.json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_config.level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


class Logger:
    """structlog's logger for one module, loaded when a message passes the level."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _log(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if level < _config.level:
            return
        import structlog

        if not structlog.is_configured():  # never structlog's default renderer: it prints frame locals
            _apply()
        getattr(structlog.get_logger(self.name), method)(event, **fields)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, "error", event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """An error with the traceback of the exception being handled."""
        self._log(logging.ERROR, "exception", event, fields)


def get_logger(name: str) -> Logger:
    return Logger(name)
