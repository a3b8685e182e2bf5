"""The error table: every code has both languages, a status and an exit code."""

from __future__ import annotations

from drivers.errors import TokenError
from signer.errors import KINDS, Code, SignerError, as_signer_error
from signer.keys.token import key_error


def test_every_code_is_complete() -> None:
    for code, kind in KINDS.items():
        assert code == code.upper()
        assert kind.message_en and kind.message_vi and kind.message_en != kind.message_vi
        assert 400 <= kind.http_status < 600
        assert kind.exit_code not in (0, 1, 2)  # 1 and 2 belong to Python and argparse


def test_security_model_codes_exist() -> None:
    for code in ("TOKEN_NOT_PRESENT", "PIN_INCORRECT", "PIN_LOCKED", "USER_CANCELLED", "DOCUMENT_INVALID"):
        assert code in KINDS


def test_token_errors_map_with_their_facts() -> None:
    error = key_error(TokenError("PIN_INCORRECT", "wrong PIN", final_try=True))
    assert error.code == "PIN_INCORRECT"
    assert "One try left" in error.message_en and "Chỉ còn một lần thử" in error.message_vi
    assert error.as_dict() == {"code": "PIN_INCORRECT", "message": error.message_en, "message_vi": error.message_vi}
    assert key_error(TokenError("SOMETHING_NEW")).code == "TOKEN_ERROR"
    assert as_signer_error(KeyboardInterrupt()).code == "USER_CANCELLED"
    assert as_signer_error(RuntimeError("boom")).code == "INTERNAL_ERROR"
    assert as_signer_error(SignerError("CERT_NOT_FOUND", "x")).detail == "x"


def test_every_code_has_one_row_and_an_unknown_code_cannot_be_raised() -> None:
    assert set(KINDS) == set(Code)
    try:
        SignerError("NO_SUCH_CODE")  # type: ignore[arg-type]
    except ValueError:
        pass
    else:
        raise AssertionError("an unknown code was accepted")


def test_the_table_says_which_failures_end_a_batch_and_their_vgca_status() -> None:
    assert SignerError(Code.PIN_LOCKED).ends_batch and not SignerError(Code.DOCUMENT_INVALID).ends_batch
    assert SignerError(Code.USER_CANCELLED).vgca_status == 11
    assert SignerError(Code.INTERNAL_ERROR).vgca_status == 1


def test_a_hint_is_added_only_where_the_raiser_knows_it() -> None:
    plain = SignerError(Code.REVOCATION_UNKNOWN, "Lê Hồng Sơn: no OCSP or CRL answer")
    assert plain.message_en == "The certificate's revocation status could not be checked: " \
                               "Lê Hồng Sơn: no OCSP or CRL answer"
    hinted = SignerError(Code.REVOCATION_UNKNOWN, "x", responders="./softhsm-setup.sh /dev-folder")
    assert hinted.message_en.endswith("start them with ./softhsm-setup.sh /dev-folder")
    assert hinted.message_vi.endswith("hãy khởi động bằng lệnh ./softhsm-setup.sh /dev-folder")
    assert SignerError(Code.ORIGIN_NOT_ALLOWED, "https://a.example:443").message_en == \
        "This website is not allowed to use the signer: https://a.example:443"
    locked = SignerError(Code.PIN_LOCKED, locked=True)  # its own {fix_en} is not a hint's
    assert locked.message_en.endswith("contact IT staff to unblock it")
