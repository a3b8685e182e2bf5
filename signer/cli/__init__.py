"""The ``signer`` command line: one module per subcommand, errors reported in one place."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import Code, SignerError

# Only what the parser needs is imported here: each command module imports its own
# dependencies inside its ``run``, so ``signer --help`` loads none of them.
from . import (
    audit,
    browsers,
    certs,
    doctor,
    enroll,
    origins,
    pin,
    preview,
    remote,
    serve,
    sign,
    sign_batch,
    sign_cms,
    tls,
    tokens,
    tray,
    verify,
)

COMMANDS = (serve, tokens, certs, sign, sign_batch, sign_cms, verify, preview, origins, audit, tls, tray,
            browsers, enroll, pin, doctor, remote)


class _Version(argparse.Action):
    """``--version``: the version is read from the installed metadata only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the version and exit / hiện phiên bản rồi thoát")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from .. import __version__

        print(f"signer {__version__}")
        parser.exit()


def common_options(defaults: bool) -> argparse.ArgumentParser:
    """--config and -v, accepted before and after the subcommand.

    Subcommands' copies default to SUPPRESS so they never overwrite a value given
    before the subcommand.
    """
    common = argparse.ArgumentParser(add_help=False)
    kwargs: dict[str, Any] = {} if defaults else {"default": argparse.SUPPRESS}
    common.add_argument("--config", metavar="PATH",
                        help="configuration file (default: $SIGNER_CONFIG) / tệp cấu hình (mặc định: "
                             "$SIGNER_CONFIG)", **kwargs)
    common.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging to standard error / ghi nhật ký gỡ lỗi ra stderr", **kwargs)
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options(defaults=False)
    parser = argparse.ArgumentParser(
        prog="signer",
        description="Ký số văn bản bằng USB token / Sign documents with USB tokens.",
        parents=[common_options(defaults=True)],
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub, common)
    _bilingual(parser)
    return parser


def _bilingual(parser: argparse.ArgumentParser) -> None:
    """argparse's own texts (``-h``, the list of subcommands) in both languages, and each
    subcommand's one-line help at the top of its own ``--help``."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            action.help = "show this help and exit / hiện trợ giúp này rồi thoát"
        elif isinstance(action, argparse._SubParsersAction):
            action.help = action.help or "one of the commands below / một trong các lệnh dưới đây"
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                child.description = child.description or helps.get(name)
                _bilingual(child)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
    except ValueError as exc:  # a broken profile file, read for the options' choices
        from policies.errors import vietnamese

        return _report(SignerError(Code.CONFIG_INVALID, str(exc), vi=vietnamese(exc, "lỗi trong tệp mẫu chữ ký")))
    args = parser.parse_args(argv)
    from ..config import load_settings  # after parsing: --help and usage errors load none of this
    from ..errors import as_signer_error
    from ..logs import configure_logging, get_logger

    configure_logging("debug" if args.verbose else "warning")
    try:
        settings = load_settings(args.config)
        if not args.verbose:
            configure_logging(settings.log_level)
        return args.run(args, settings)
    except BrokenPipeError:  # output piped into a command that stopped reading
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (silences the flush at exit)
        return 0
    except BaseException as exc:  # every failure ends as one line with a stable code
        if isinstance(exc, SystemExit):
            raise
        error = as_signer_error(exc)
        if error.code is Code.INTERNAL_ERROR:
            get_logger(__name__).debug("internal_error", exc_info=exc)
        return _report(error)


def _report(error: SignerError) -> int:
    """One line with the stable code, in Vietnamese and English; the exit code."""
    print(f"signer: {error.code}: {error.message_vi} / {error.message_en}", file=sys.stderr)
    return error.exit_code
