"""``signer pin change`` and ``signer pin unblock`` on SoftHSM, typed through a real pseudo-terminal.

SoftHSM 2.6 counts wrong PINs only as far as CKF_USER_PIN_COUNT_LOW (and CKF_SO_PIN_COUNT_LOW):
it never sets FINAL_TRY or LOCKED, however many wrong PINs it is given, so "locked" is shown here
by the flags SoftHSM does set, and the refusal of a locked PIN on the token's description.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DOCUMENTS, LEADER_PIN, DevEnv, assert_no_traceback, signer_cli
from pdf_checks import assert_pdfsig_all_valid
from pty_terminal import Terminal

from drivers.tokeninfo import TokenFlags, TokenInfo
from signer.cli.pin import refuse_locked
from signer.errors import KINDS, Code, SignerError

LEADER_TOKEN = "Token Le Hong Son"
SO_PIN = "0000000000"  # softhsm-setup.sh's security officer PIN
NEW_PIN = "24681357"


def pin_command(env: DevEnv, action: str) -> Terminal:
    return Terminal([sys.executable, "-m", "signer", "pin", action, "--token", LEADER_TOKEN], env.env())


def answer(terminal: Terminal, first_prompt: str, first: str, new: str, again: str | None) -> str:
    """Types the PINs, each after its prompt (``again`` None: no second entry is expected); what was
    shown before the first prompt."""
    before = terminal.expect(first_prompt)
    assert first_prompt in before, before
    terminal.type(first)
    assert "New PIN (4–255" in terminal.expect("characters): ")
    terminal.type(new)
    if again is not None:
        assert "New PIN again: " in terminal.expect("New PIN again: ")
        terminal.type(again)
    return before


def leader_flags(env: DevEnv) -> dict[str, bool]:
    done = signer_cli("tokens", "--json", env=env.env())
    assert done.returncode == 0, done.stderr
    return next(t["flags"] for t in json.loads(done.stdout)["tokens"] if t["label"] == LEADER_TOKEN)


def sign_with_pin(env: DevEnv, pin: str, out: Path) -> subprocess.CompletedProcess[str]:
    """``signer sign`` with ``pin`` as the leader token's development PIN."""
    config = env.signer_config
    text, count = re.subn(f'^"{LEADER_TOKEN}" = ".*"$', f'"{LEADER_TOKEN}" = "{pin}"', config.read_text(), flags=re.M)
    assert count == 1
    config.write_text(text)
    return signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out), env=env.env())


def test_changed_pin_signs(private_tokens: DevEnv, tmp_path: Path) -> None:
    terminal = pin_command(private_tokens, "change")
    before = answer(terminal, "Current PIN: ", LEADER_PIN, NEW_PIN, NEW_PIN)
    code, transcript = terminal.finish()
    assert code == 0, transcript
    assert "PIN changed: Token Le Hong Son" in transcript
    assert "not used, as that very PIN is being changed" in before  # the development PIN is not used
    assert "PIN: bình thường / no wrong tries" in before
    assert LEADER_PIN not in transcript and NEW_PIN not in transcript, "a PIN must not be echoed"

    out = tmp_path / "signed.pdf"
    done = sign_with_pin(private_tokens, NEW_PIN, out)
    assert done.returncode == 0, done.stderr
    assert_pdfsig_all_valid(out, 1)
    refused = sign_with_pin(private_tokens, LEADER_PIN, tmp_path / "old.pdf")  # the old PIN is gone
    assert refused.returncode == KINDS[Code.PIN_INCORRECT].exit_code, refused.stderr
    assert_no_traceback(refused)


def test_wrong_current_pin_shows_the_flags_and_is_asked_once(private_tokens: DevEnv) -> None:
    terminal = pin_command(private_tokens, "change")
    answer(terminal, "Current PIN: ", "99999999", NEW_PIN, NEW_PIN)
    code, transcript = terminal.finish()
    assert code == KINDS[Code.PIN_INCORRECT].exit_code, transcript
    assert "signer: PIN_INCORRECT: Sai mã PIN. Số lần thử còn lại không nhiều. / Wrong PIN. Few tries remain." \
        in transcript
    after = transcript.split("New PIN again: ", 1)[1]
    assert "PIN: đã có lần nhập sai / count low" in after  # the flags as the token reports them now
    assert transcript.count("Current PIN: ") == 1  # sent once, never retried
    assert leader_flags(private_tokens)["pin_count_low"]

    # The next attempt shows the count before asking; the right PIN clears it.
    terminal = pin_command(private_tokens, "change")
    before = answer(terminal, "Current PIN: ", LEADER_PIN, NEW_PIN, NEW_PIN)
    assert "PIN: đã có lần nhập sai / count low" in before
    code, transcript = terminal.finish()
    assert code == 0, transcript
    assert not leader_flags(private_tokens)["pin_count_low"]


def test_unblock_with_the_so_pin_sets_a_pin_that_signs(private_tokens: DevEnv, tmp_path: Path) -> None:
    terminal = pin_command(private_tokens, "change")  # the user PIN forgotten: a wrong try first
    answer(terminal, "Current PIN: ", "11111111", NEW_PIN, NEW_PIN)
    assert terminal.finish()[0] == KINDS[Code.PIN_INCORRECT].exit_code

    terminal = pin_command(private_tokens, "unblock")
    before = answer(terminal, "Mã PIN quản trị / SO PIN: ", SO_PIN, NEW_PIN, NEW_PIN)
    assert "PIN: đã có lần nhập sai / count low" in before and "SO PIN: bình thường" in before
    code, transcript = terminal.finish()
    assert code == 0, transcript
    assert "Unblocked, new PIN set: Token Le Hong Son" in transcript
    assert SO_PIN not in transcript and NEW_PIN not in transcript
    assert not leader_flags(private_tokens)["pin_count_low"]

    out = tmp_path / "signed.pdf"
    done = sign_with_pin(private_tokens, NEW_PIN, out)
    assert done.returncode == 0, done.stderr
    assert_pdfsig_all_valid(out, 1)


def test_wrong_so_pin_says_so_and_shows_the_so_flags(private_tokens: DevEnv) -> None:
    terminal = pin_command(private_tokens, "unblock")
    answer(terminal, "Mã PIN quản trị / SO PIN: ", "1234567890", NEW_PIN, NEW_PIN)
    code, transcript = terminal.finish()
    assert code == KINDS[Code.PIN_INCORRECT].exit_code, transcript
    assert "Sai mã PIN quản trị (SO PIN). Số lần thử còn lại không nhiều. / Wrong SO PIN (security officer " \
           "PIN). Few tries remain." in transcript
    assert "SO PIN: đã có lần nhập sai / count low" in transcript.split("New PIN again: ", 1)[1]
    flags = leader_flags(private_tokens)
    assert flags["so_pin_count_low"] and not flags["pin_count_low"]


@pytest.mark.parametrize(("new", "again", "reason"), [
    ("12", None, "it must be 4 to 255 characters long"),  # refused before it is asked again
    (NEW_PIN, NEW_PIN + "0", "the two entries differ"),
])
def test_a_bad_new_pin_is_refused_before_anything_is_sent(private_tokens: DevEnv, new: str, again: str | None,
                                                         reason: str) -> None:
    terminal = pin_command(private_tokens, "change")
    answer(terminal, "Current PIN: ", "99999999", new, again)  # a wrong current PIN: sent, it would count
    code, transcript = terminal.finish()
    assert code == KINDS[Code.NEW_PIN_REJECTED].exit_code, transcript
    assert "signer: NEW_PIN_REJECTED: Mã PIN mới không được chấp nhận: " in transcript
    assert f"/ The new PIN was not accepted: {reason}" in transcript
    assert not leader_flags(private_tokens)["pin_count_low"]  # so the token never saw the wrong PIN


def test_no_terminal_means_no_pin_change(private_tokens: DevEnv) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "signer", "pin", "change", "--token", LEADER_TOKEN],
        capture_output=True, text=True, env=private_tokens.env(), stdin=subprocess.DEVNULL,
        start_new_session=True, timeout=60,
    )
    assert done.returncode == KINDS[Code.PIN_UNAVAILABLE].exit_code
    assert "signer: PIN_UNAVAILABLE: " in done.stderr
    assert_no_traceback(done)


def test_several_tokens_need_a_choice(private_tokens: DevEnv) -> None:
    code, transcript = Terminal([sys.executable, "-m", "signer", "pin", "change"], private_tokens.env()).finish()
    assert code == KINDS[Code.BAD_REQUEST].exit_code, transcript
    assert "choose one with --token" in transcript and LEADER_TOKEN in transcript
    assert "PIN: " not in transcript  # nothing asked


def locked_token(**flags: bool) -> TokenInfo:
    base = dict(login_required=True, protected_authentication_path=False, pin_count_low=True,
                pin_final_try=False, pin_locked=False, initialized=True)
    return TokenInfo(module="m", slot_id=0, label="T", serial="1", manufacturer="", model="",
                     flags=TokenFlags(**{**base, **flags}))


def test_a_locked_pin_is_not_asked_for() -> None:
    # SoftHSM never locks a PIN: the refusal is checked on the flags a real token reports.
    with pytest.raises(SignerError) as change:
        refuse_locked(locked_token(pin_locked=True), unblock=False)
    assert change.value.code is Code.PIN_LOCKED and "contact IT staff" in change.value.message_en
    refuse_locked(locked_token(pin_locked=True), unblock=True)  # what unblock is for
    with pytest.raises(SignerError) as unblock:
        refuse_locked(locked_token(so_pin_locked=True), unblock=True)
    assert "SO PIN (security officer PIN) is locked" in unblock.value.message_en
