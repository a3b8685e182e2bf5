"""``signer pin change`` and ``signer pin unblock``: a token's user PIN, typed at the terminal.

PINs are read with echo off from the terminal only (never an argument or the environment),
the token's PIN flags are shown before the first one is asked, and each PIN is sent once.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..errors import Code, SignerError
from .output import printable

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..config import Settings
    from ..keys.pinadmin import TokenInfo

DEVELOPMENT_NOTE = (
    "Không dùng PIN cố định của cấu hình phát triển vì đang đổi chính mã PIN đó: hãy gõ PIN; sau đó sửa "
    "[pin.development] trong tệp cấu hình. / The development configuration's fixed PIN is not used, as that "
    "very PIN is being changed: type it; afterwards update [pin.development] in the configuration file."
)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "pin", parents=[common], help="change or unblock a token's PIN / đổi hoặc mở khóa PIN của token",
        description="Đổi hoặc mở khóa mã PIN của token; mã PIN chỉ được gõ trên bàn phím. / Change or unblock "
                    "a token's PIN; PINs are only typed at the terminal.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    change = actions.add_parser(
        "change", parents=[common], help="change the user PIN / đổi mã PIN",
        description="Đổi mã PIN của token: gõ PIN hiện tại, rồi PIN mới hai lần. / Change the token's PIN: "
                    "type the current PIN, then the new one twice.",
    )
    unblock = actions.add_parser(
        "unblock", parents=[common],
        help="set a new user PIN with the SO PIN / mở khóa bằng mã PIN quản trị (SO PIN) và đặt PIN mới",
        description="Mở khóa token bằng mã PIN quản trị (SO PIN) và đặt mã PIN mới cho người dùng. / Unblock "
                    "the token with the security officer PIN (SO PIN) and set a new user PIN.",
    )
    for action in (change, unblock):
        action.add_argument("--token", metavar="SERIAL|LABEL",
                            help="the token, when several are connected / token cần đổi, khi cắm nhiều token")
    change.set_defaults(run=run, unblock=False)
    unblock.set_defaults(run=run, unblock=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from ..keys import KeyStore
    from ..keys.pinadmin import pin_target
    from ..keys.pins import has_terminal

    if settings.pin.source == "development":
        print(DEVELOPMENT_NOTE, file=sys.stderr)
    if not has_terminal():
        raise SignerError(Code.PIN_UNAVAILABLE, "no terminal to ask for the PIN",
                          vi="không có cửa sổ dòng lệnh để hỏi mã PIN")
    with KeyStore(settings) as store:
        target = pin_target(store, args.token)
        print(describe(target.token), file=sys.stderr, flush=True)
        refuse_locked(target.token, unblock=args.unblock)
        first = ask(getpass.getpass, "Mã PIN quản trị / SO PIN: " if args.unblock
                    else "Mã PIN hiện tại / Current PIN: ")
        limits = target.limits
        length = f"{limits.min_len}–{limits.max_len}" if limits.max_len else f">= {limits.min_len}"
        new = ask(getpass.getpass, f"Mã PIN mới / New PIN ({length} ký tự / characters): ")
        target.check_new(new)
        if ask(getpass.getpass, "Nhập lại mã PIN mới / New PIN again: ") != new:
            raise SignerError(Code.NEW_PIN_REJECTED, "mismatch", reason="mismatch")
        try:
            if args.unblock:
                target.unblock(first, new)
            else:
                target.change(first, new)
        except SignerError as error:
            if error.code is Code.PIN_INCORRECT:  # what is left of the tries, as the token says now
                print(describe(target.now()), file=sys.stderr, flush=True)
            raise
    done = "Đã mở khóa và đặt mã PIN mới / Unblocked, new PIN set" if args.unblock else "Đã đổi mã PIN / PIN changed"
    print(f"{done}: {printable(target.token.label)}")
    return 0


def describe(token: TokenInfo) -> str:
    """The token and the state of its user and SO PINs."""
    flags = token.flags
    return (f"Token '{printable(token.label)}' (serial {printable(token.serial)})\n"
            f"    PIN: {pin_state(flags.pin_count_low, flags.pin_final_try, flags.pin_locked)}\n"
            f"    SO PIN: {pin_state(flags.so_pin_count_low, flags.so_pin_final_try, flags.so_pin_locked)}")


def pin_state(count_low: bool, final_try: bool, locked: bool) -> str:
    states = [text for on, text in (
        (locked, "đã bị khóa / locked"),
        (final_try, "lần thử cuối / final try"),
        (count_low, "đã có lần nhập sai / count low"),
    ) if on]
    return ", ".join(states) or "bình thường / no wrong tries"


def refuse_locked(token: TokenInfo, *, unblock: bool) -> None:
    """A locked PIN is not asked for: nothing typed could succeed."""
    if unblock and token.flags.so_pin_locked:
        raise SignerError(Code.PIN_LOCKED, "SO PIN locked", so=True, token=token.label)
    if not unblock and token.flags.pin_locked:
        raise SignerError(Code.PIN_LOCKED, "PIN locked", token=token.label)


def ask(read: Callable[[str], str], prompt: str) -> str:
    try:
        pin = read(prompt)
    except EOFError:
        raise SignerError(Code.USER_CANCELLED, "PIN entry cancelled") from None
    if not pin:
        raise SignerError(Code.USER_CANCELLED, "empty PIN")
    return pin
