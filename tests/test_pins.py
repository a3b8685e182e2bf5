"""PIN sources: terminal, development, pinpad; never a retry, never a leak."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from drivers.errors import TokenError
from drivers.pins import (
    PINPAD,
    DevelopmentPinSource,
    PinpadPinSource,
    PinRequest,
    TerminalPinSource,
    pin_source_for,
)
from drivers.tokeninfo import TokenFlags

FLAGS = TokenFlags(login_required=True, protected_authentication_path=False, pin_count_low=False,
                   pin_final_try=False, pin_locked=False, initialized=True)
REQUEST = PinRequest("Token Le Hong Son", "abc", FLAGS)


def test_development_source_refused_without_development_flag() -> None:
    with pytest.raises(TokenError) as caught:
        DevelopmentPinSource({"Token Le Hong Son": "1234"}, development=False)
    assert caught.value.code == "PIN_SOURCE_REFUSED"


def test_development_source_gives_the_configured_pin() -> None:
    source = DevelopmentPinSource({"Token Le Hong Son": "1234"}, development=True)
    assert source.pin_for(REQUEST) == "1234"
    with pytest.raises(TokenError) as caught:
        source.pin_for(replace(REQUEST, token_label="Other"))
    assert caught.value.code == "PIN_UNAVAILABLE"
    assert "1234" not in str(caught.value)


@pytest.mark.parametrize("flag", ["pin_count_low", "pin_final_try"])
def test_development_source_never_tries_after_a_wrong_pin(flag: str) -> None:
    source = DevelopmentPinSource({"Token Le Hong Son": "1234"}, development=True)
    with pytest.raises(TokenError) as caught:
        source.pin_for(replace(REQUEST, flags=replace(FLAGS, **{flag: True})))
    assert caught.value.code == "PIN_SOURCE_REFUSED"


def test_terminal_source_warns_on_final_try() -> None:
    out = io.StringIO()
    prompts: list[str] = []
    source = TerminalPinSource(read=lambda p: prompts.append(p) or "5678", out=out, interactive=lambda: True)
    pin = source.pin_for(replace(REQUEST, flags=replace(FLAGS, pin_final_try=True)))
    assert pin == "5678"
    assert "Final try" in out.getvalue() and "Lần thử cuối" in out.getvalue()
    assert "Token Le Hong Son" in prompts[0]
    assert "5678" not in out.getvalue()


def test_terminal_source_cancel_and_no_terminal() -> None:
    empty = TerminalPinSource(read=lambda p: "", out=io.StringIO(), interactive=lambda: True)
    with pytest.raises(TokenError) as caught:
        empty.pin_for(REQUEST)
    assert caught.value.code == "USER_CANCELLED"

    def interrupted(prompt: str) -> str:
        raise KeyboardInterrupt

    with pytest.raises(TokenError) as caught:
        TerminalPinSource(read=interrupted, out=io.StringIO(), interactive=lambda: True).pin_for(REQUEST)
    assert caught.value.code == "USER_CANCELLED"
    with pytest.raises(TokenError) as caught:
        TerminalPinSource(read=lambda p: "x", out=io.StringIO(), interactive=lambda: False).pin_for(REQUEST)
    assert caught.value.code == "PIN_UNAVAILABLE"


def test_pinpad_tokens_use_the_pinpad() -> None:
    """SoftHSM has no protected authentication path; a hardware pinpad cannot run here,
    so this checks the choice and the marker that makes the login send no PIN."""
    configured = DevelopmentPinSource({"Token Le Hong Son": "1234"}, development=True)
    pinpad_flags = replace(FLAGS, protected_authentication_path=True)
    notified: list[PinRequest] = []
    source = pin_source_for(pinpad_flags, configured, PinpadPinSource(notify=notified.append))
    assert source.pin_for(replace(REQUEST, flags=pinpad_flags)) is PINPAD
    assert notified and notified[0].token_label == "Token Le Hong Son"
    assert pin_source_for(FLAGS, configured) is configured
