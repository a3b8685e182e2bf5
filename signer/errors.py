"""Every error the signer reports: a stable code, and in one table its HTTP status, command-line
exit code, VGCA status, whether it ends a batch, and its message in Vietnamese and English.

This table is the one place where codes meet users; a code not in ``Code`` cannot be raised.
Failures from ``drivers`` carry the same codes and are converted at the key layer
(``signer.keys``).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

VGCA_OTHER = 1  # any failure without a status of its own
VGCA_CANCELLED = 11  # pages test Status == 0 (success) and 11 (cancelled by the user)


class Code(StrEnum):
    """Every error's stable code: what pages, scripts and the audit log see."""

    CONFIG_INVALID = "CONFIG_INVALID"
    MODULE_NOT_FOUND = "MODULE_NOT_FOUND"
    MODULE_LOAD_FAILED = "MODULE_LOAD_FAILED"
    DOCUMENT_INVALID = "DOCUMENT_INVALID"
    DOCUMENT_ENCRYPTED = "DOCUMENT_ENCRYPTED"
    DOCUMENT_DAMAGED = "DOCUMENT_DAMAGED"
    DOCUMENT_TOO_COMPLEX = "DOCUMENT_TOO_COMPLEX"
    ANCHOR_NOT_FOUND = "ANCHOR_NOT_FOUND"
    BLOCK_NO_ROOM = "BLOCK_NO_ROOM"
    HEADER_BLANK_NOT_FOUND = "HEADER_BLANK_NOT_FOUND"
    FILE_UNREADABLE = "FILE_UNREADABLE"
    OUTPUT_FAILED = "OUTPUT_FAILED"
    TOKEN_NOT_PRESENT = "TOKEN_NOT_PRESENT"
    TOKEN_ERROR = "TOKEN_ERROR"
    REMOTE_UNREACHABLE = "REMOTE_UNREACHABLE"
    REMOTE_SERVICE_ERROR = "REMOTE_SERVICE_ERROR"
    REMOTE_LOGIN_REQUIRED = "REMOTE_LOGIN_REQUIRED"
    REMOTE_AUTHORISATION_INCORRECT = "REMOTE_AUTHORISATION_INCORRECT"
    REMOTE_CREDENTIAL_DISABLED = "REMOTE_CREDENTIAL_DISABLED"
    CERT_NOT_FOUND = "CERT_NOT_FOUND"
    CERT_AMBIGUOUS = "CERT_AMBIGUOUS"
    CERT_EXPIRED = "CERT_EXPIRED"
    CERT_NOT_YET_VALID = "CERT_NOT_YET_VALID"
    CERT_REVOKED = "CERT_REVOKED"
    REVOCATION_UNKNOWN = "REVOCATION_UNKNOWN"
    CERT_UNTRUSTED = "CERT_UNTRUSTED"
    CERT_KEY_USAGE = "CERT_KEY_USAGE"
    KEY_NOT_FOUND = "KEY_NOT_FOUND"
    KEY_EXISTS = "KEY_EXISTS"
    PIN_INCORRECT = "PIN_INCORRECT"
    PIN_LOCKED = "PIN_LOCKED"
    PIN_EXPIRED = "PIN_EXPIRED"
    PIN_UNAVAILABLE = "PIN_UNAVAILABLE"
    PIN_SOURCE_REFUSED = "PIN_SOURCE_REFUSED"
    NEW_PIN_REJECTED = "NEW_PIN_REJECTED"
    USER_CANCELLED = "USER_CANCELLED"
    SIGNING_FAILED = "SIGNING_FAILED"
    TIMESTAMP_FAILED = "TIMESTAMP_FAILED"
    NOT_LOOPBACK = "NOT_LOOPBACK"
    PEER_NOT_ALLOWED = "PEER_NOT_ALLOWED"
    HOST_NOT_ALLOWED = "HOST_NOT_ALLOWED"
    ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"
    AUTH_REQUIRED = "AUTH_REQUIRED"
    CONSENT_DENIED = "CONSENT_DENIED"
    CONSENT_BACKOFF = "CONSENT_BACKOFF"
    TOO_LARGE = "TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    BUSY = "BUSY"
    BAD_REQUEST = "BAD_REQUEST"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    URL_NOT_ALLOWED = "URL_NOT_ALLOWED"
    DOWNLOAD_FAILED = "DOWNLOAD_FAILED"
    UPLOAD_FAILED = "UPLOAD_FAILED"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    LISTEN_FAILED = "LISTEN_FAILED"
    PORT_IN_USE = "PORT_IN_USE"
    ALREADY_RUNNING = "ALREADY_RUNNING"
    DAEMON_UNREACHABLE = "DAEMON_UNREACHABLE"
    TIMEOUT = "TIMEOUT"
    INTERNAL_ERROR = "INTERNAL_ERROR"


@dataclass(frozen=True)
class ErrorKind:
    code: Code
    http_status: int
    exit_code: int
    vgca_status: int
    ends_batch: bool  # the remaining documents of a batch cannot be signed either
    message_en: str
    message_vi: str


_KINDS = (
    # 3: configuration and environment
    ErrorKind(Code.CONFIG_INVALID, 500, 3, VGCA_OTHER, False, "The configuration is invalid: {detail}",
              "Cấu hình không hợp lệ: {detail}"),
    ErrorKind(Code.MODULE_NOT_FOUND, 503, 3, 4, False, "No PKCS#11 module found: {detail}",
              "Không tìm thấy thư viện PKCS#11 của token: {detail}"),
    ErrorKind(Code.MODULE_LOAD_FAILED, 503, 3, 4, False, "A PKCS#11 module could not be loaded: {detail}",
              "Không nạp được thư viện PKCS#11: {detail}"),
    # 4: the document
    ErrorKind(Code.DOCUMENT_INVALID, 422, 4, 3, False, "The document is not valid: {detail}",
              "Văn bản không hợp lệ: {detail}"),
    ErrorKind(Code.DOCUMENT_ENCRYPTED, 422, 4, 3, False,
              "The PDF is password-protected; remove the protection before signing",
              "Tệp PDF đang được đặt mật khẩu; hãy gỡ mật khẩu trước khi ký"),
    ErrorKind(Code.DOCUMENT_DAMAGED, 422, 4, 3, False,
              "The PDF is damaged ({detail}) and already carries signatures: repairing it would rewrite the "
              "file and break them, so it cannot be signed; ask the sender for an intact copy",
              "Tệp PDF bị hỏng ({detail}) và đã có chữ ký số: sửa tệp sẽ phải ghi lại tệp và làm mất hiệu lực "
              "các chữ ký đó, nên không thể ký; hãy đề nghị người gửi cung cấp bản không bị hỏng"),
    ErrorKind(Code.DOCUMENT_TOO_COMPLEX, 422, 4, 3, False,
              "The document needs more time or memory to read than the signer allows: {detail}",
              "Văn bản cần nhiều thời gian hoặc bộ nhớ để đọc hơn mức dịch vụ ký số cho phép: {detail}"),
    ErrorKind(Code.ANCHOR_NOT_FOUND, 422, 4, 3, False, "The place for the signature block was not found: {detail}",
              "Không tìm thấy vị trí đặt chữ ký trên văn bản: {detail}"),
    ErrorKind(Code.BLOCK_NO_ROOM, 422, 4, 3, False,
              "The signature block would cover the document's text, and there is no free space for it: {detail}",
              "Khối chữ ký sẽ che chữ của văn bản và không còn chỗ trống để đặt: {detail}"),
    ErrorKind(Code.HEADER_BLANK_NOT_FOUND, 422, 4, 3, False,
              "The header has no blank to write the document's number or date into: {detail}",
              "Phần đầu văn bản không có chỗ trống để ghi số hoặc ngày ban hành văn bản: {detail}"),
    ErrorKind(Code.FILE_UNREADABLE, 400, 4, VGCA_OTHER, False, "Cannot read the input file: {detail}",
              "Không đọc được tệp đầu vào: {detail}"),
    ErrorKind(Code.OUTPUT_FAILED, 500, 4, VGCA_OTHER, False, "Cannot write the output file: {detail}",
              "Không ghi được tệp kết quả: {detail}"),
    # 5: the token
    ErrorKind(Code.TOKEN_NOT_PRESENT, 409, 5, 4, True, "No token connected: {detail}",
              "Không có token nào được cắm: {detail}"),
    ErrorKind(Code.TOKEN_ERROR, 502, 5, 4, False, "The token reported an error: {detail}",
              "Token báo lỗi: {detail}"),
    # 5: a remote (CSC) signing service, where the key lives in the service's HSM
    ErrorKind(Code.REMOTE_UNREACHABLE, 503, 5, 4, True, "The remote signing service cannot be reached: {detail}",
              "Không kết nối được dịch vụ ký số từ xa: {detail}"),
    ErrorKind(Code.REMOTE_SERVICE_ERROR, 502, 5, 4, True, "The remote signing service refused the request: {detail}",
              "Dịch vụ ký số từ xa từ chối yêu cầu: {detail}"),
    ErrorKind(Code.REMOTE_LOGIN_REQUIRED, 401, 6, 6, True,
              "Sign in to the remote signing service again (signer remote login): {detail}",
              "Cần đăng nhập lại dịch vụ ký số từ xa (signer remote login): {detail}"),
    ErrorKind(Code.REMOTE_AUTHORISATION_INCORRECT, 401, 6, 6, True,
              "The remote signing service refused the PIN or one-time code: {detail}",
              "Dịch vụ ký số từ xa không chấp nhận mã PIN hoặc mã OTP: {detail}"),
    ErrorKind(Code.REMOTE_CREDENTIAL_DISABLED, 403, 5, 5, True,
              "The remote signing credential is disabled: {detail}",
              "Chứng thư ký số từ xa đã bị vô hiệu hóa: {detail}"),
    ErrorKind(Code.CERT_NOT_FOUND, 404, 5, 5, True, "Certificate not found: {detail}",
              "Không tìm thấy chứng thư số: {detail}"),
    ErrorKind(Code.CERT_AMBIGUOUS, 409, 5, 5, False, "Several certificates match: {detail}",
              "Có nhiều chứng thư số trùng khớp: {detail}"),
    ErrorKind(Code.CERT_EXPIRED, 422, 5, 5, False, "The certificate has expired: {detail}",
              "Chứng thư số đã hết hạn: {detail}"),
    ErrorKind(Code.CERT_NOT_YET_VALID, 422, 5, 5, False, "The certificate is not valid yet: {detail}",
              "Chứng thư số chưa đến thời hạn hiệu lực: {detail}"),
    ErrorKind(Code.CERT_REVOKED, 422, 5, 5, False, "The certificate has been revoked: {detail}",
              "Chứng thư số đã bị thu hồi: {detail}"),
    ErrorKind(Code.REVOCATION_UNKNOWN, 422, 5, 5, False,
              "The certificate's revocation status could not be checked: {detail}{hint_en}",
              "Không kiểm tra được tình trạng thu hồi của chứng thư số: {detail}{hint_vi}"),
    ErrorKind(Code.CERT_UNTRUSTED, 422, 5, 5, False, "The certificate does not chain to a trusted authority: {detail}",
              "Chứng thư số không thuộc hệ thống chứng thực được tin cậy: {detail}"),
    ErrorKind(Code.CERT_KEY_USAGE, 422, 5, 5, False, "The certificate may not be used for signatures: {detail}",
              "Chứng thư số không được phép dùng để ký: {detail}"),
    ErrorKind(Code.KEY_NOT_FOUND, 404, 5, 5, True, "The token has no private key for this certificate",
              "Token không có khóa bí mật cho chứng thư số này"),
    ErrorKind(Code.KEY_EXISTS, 409, 5, VGCA_OTHER, False,
              "The token already has a key with this label or id: {detail}",
              "Token đã có khóa mang nhãn hoặc mã định danh này: {detail}"),
    # 6: the PIN
    ErrorKind(Code.PIN_INCORRECT, 401, 6, 6, True, "Wrong {pin_en}. {tries_en}", "Sai {pin_vi}. {tries_vi}"),
    ErrorKind(Code.PIN_LOCKED, 423, 6, 7, True, "The token's {pin_en} is locked; {fix_en}",
              "{Pin_vi} của token đã bị khóa; {fix_vi}"),
    ErrorKind(Code.PIN_EXPIRED, 401, 6, 6, True, "The token's PIN has expired; change it first",
              "Mã PIN của token đã hết hạn; hãy đổi PIN trước"),
    ErrorKind(Code.PIN_UNAVAILABLE, 401, 6, 6, True, "No PIN could be obtained: {detail}",
              "Không lấy được mã PIN: {detail}"),
    ErrorKind(Code.PIN_SOURCE_REFUSED, 401, 6, 6, True, "The PIN source refused: {detail}",
              "Nguồn cấp PIN từ chối: {detail}"),
    ErrorKind(Code.NEW_PIN_REJECTED, 422, 6, VGCA_OTHER, False, "The new PIN was not accepted: {reason_en}",
              "Mã PIN mới không được chấp nhận: {reason_vi}"),
    ErrorKind(Code.USER_CANCELLED, 499, 7, VGCA_CANCELLED, True, "Cancelled by the user", "Người dùng đã hủy"),
    # 8: signing
    ErrorKind(Code.SIGNING_FAILED, 500, 8, VGCA_OTHER, False, "Signing failed: {detail}", "Ký số thất bại: {detail}"),
    ErrorKind(Code.TIMESTAMP_FAILED, 502, 8, VGCA_OTHER, False, "No timestamp could be obtained: {detail}",
              "Không lấy được dấu thời gian: {detail}"),
    # 9: requests to the daemon
    ErrorKind(Code.NOT_LOOPBACK, 403, 9, VGCA_OTHER, False, "Only this computer may call the signer",
              "Chỉ chương trình trên máy này mới được gọi dịch vụ ký số"),
    ErrorKind(Code.PEER_NOT_ALLOWED, 403, 9, VGCA_OTHER, False,
              "Only programs of the user who runs the signer may call it",
              "Chỉ chương trình của người dùng đang chạy dịch vụ ký số mới được gọi dịch vụ này"),
    ErrorKind(Code.HOST_NOT_ALLOWED, 421, 9, VGCA_OTHER, False, "Unexpected Host header: {detail}",
              "Tên máy chủ (Host) không hợp lệ: {detail}"),
    ErrorKind(Code.ORIGIN_NOT_ALLOWED, 403, 9, 8, False,
              "This website is not allowed to use the signer: {detail}{hint_en}",
              "Trang web này không được phép sử dụng dịch vụ ký số: {detail}{hint_vi}"),
    ErrorKind(Code.AUTH_REQUIRED, 401, 9, VGCA_OTHER, False, "A local client must present the signer's API token",
              "Chương trình gọi cần xuất trình mã truy cập (API token) của dịch vụ ký số"),
    ErrorKind(Code.CONSENT_DENIED, 403, 9, 8, True, "The official did not allow this website to sign: {detail}",
              "Người dùng không cho phép trang web này ký số: {detail}"),
    ErrorKind(Code.CONSENT_BACKOFF, 429, 9, 8, True,
              "The official just refused this website; it may ask again in {detail}",
              "Người dùng vừa từ chối trang web này; trang web có thể hỏi lại sau {detail}"),
    ErrorKind(Code.TOO_LARGE, 413, 9, 14, False, "The request is too large (limit {limit_mb} MB)",
              "Yêu cầu quá lớn (giới hạn {limit_mb} MB)"),
    ErrorKind(Code.RATE_LIMITED, 429, 9, 15, False, "Too many requests from this website; try again shortly",
              "Trang web gửi quá nhiều yêu cầu; hãy thử lại sau ít phút"),
    ErrorKind(Code.BUSY, 503, 9, 15, False, "The signer is busy: {detail}", "Dịch vụ ký số đang bận: {detail}"),
    ErrorKind(Code.BAD_REQUEST, 400, 9, 2, False, "Invalid request: {detail}", "Yêu cầu không hợp lệ: {detail}"),
    ErrorKind(Code.NOT_FOUND, 404, 9, VGCA_OTHER, False, "No such resource: {detail}",
              "Không có tài nguyên này: {detail}"),
    ErrorKind(Code.METHOD_NOT_ALLOWED, 405, 9, VGCA_OTHER, False, "Method not allowed: {detail}",
              "Phương thức không được hỗ trợ: {detail}"),
    ErrorKind(Code.URL_NOT_ALLOWED, 403, 9, 12, False, "This address may not be used for documents: {detail}",
              "Không được phép tải hoặc gửi văn bản qua địa chỉ này: {detail}"),
    ErrorKind(Code.DOWNLOAD_FAILED, 502, 9, 9, False, "The document could not be downloaded: {detail}",
              "Không tải được văn bản: {detail}"),
    ErrorKind(Code.UPLOAD_FAILED, 502, 9, 10, False, "The signed document could not be uploaded: {detail}",
              "Không gửi được văn bản đã ký: {detail}"),
    ErrorKind(Code.NOT_SUPPORTED, 501, 9, 13, False, "Not supported yet: {detail}", "Chưa hỗ trợ: {detail}"),
    ErrorKind(Code.LISTEN_FAILED, 500, 3, VGCA_OTHER, False, "Cannot listen on the port: {detail}",
              "Không mở được cổng dịch vụ: {detail}"),
    ErrorKind(Code.PORT_IN_USE, 500, 3, VGCA_OTHER, False,
              "{detail} is already in use by {holder_en}. Either stop that program (where the official VGCA "
              "Sign Service is installed, it is usually that one) and start again, or {choice_en}",
              "Cổng {detail} đang được {holder_vi} sử dụng. Hãy dừng chương trình đó (trên máy có cài dịch vụ "
              "ký số VGCA chính thức, thường là dịch vụ đó) rồi chạy lại, hoặc {choice_vi}"),
    ErrorKind(Code.ALREADY_RUNNING, 500, 3, VGCA_OTHER, False,
              "The signing service is already running with this state folder ({detail}): use that one, or "
              "stop it before starting another",
              "Dịch vụ ký số đang chạy với thư mục dữ liệu này ({detail}): hãy dùng dịch vụ đó, hoặc dừng "
              "nó trước khi chạy dịch vụ khác"),
    ErrorKind(Code.DAEMON_UNREACHABLE, 503, 3, VGCA_OTHER, False, "The signing service is not running: {detail}",
              "Dịch vụ ký số chưa chạy: {detail}"),
    ErrorKind(Code.TIMEOUT, 504, 9, 16, False, "The operation took too long: {detail}",
              "Thao tác quá thời gian cho phép: {detail}"),
    ErrorKind(Code.INTERNAL_ERROR, 500, 70, VGCA_OTHER, False, "Internal error: {detail}", "Lỗi nội bộ: {detail}"),
)

KINDS: dict[Code, ErrorKind] = {kind.code: kind for kind in _KINDS}
assert len(KINDS) == len(_KINDS) == len(Code), "every code has exactly one row"


class SignerError(Exception):
    """An error with a stable code; the message is built from the code's table entry.

    ``detail`` completes the English message and ``vi`` the Vietnamese one: both are built from
    the same data where the raiser has it, so neither half mixes languages.
    """

    def __init__(self, code: Code, detail: str = "", *, vi: str = "", **facts: Any) -> None:
        self.code = Code(code)  # a misspelt code fails here, where it is raised
        self.detail = detail
        self.vi = vi
        self.facts = facts
        super().__init__(f"{code}: {self.message_en}")

    @property
    def kind(self) -> ErrorKind:
        return KINDS[self.code]

    @property
    def http_status(self) -> int:
        return self.kind.http_status

    @property
    def exit_code(self) -> int:
        return self.kind.exit_code

    @property
    def vgca_status(self) -> int:
        return self.kind.vgca_status

    @property
    def ends_batch(self) -> bool:
        return self.kind.ends_batch

    @property
    def message_en(self) -> str:
        return self.kind.message_en.format(**self._fields("en")).strip()

    @property
    def message_vi(self) -> str:
        return self.kind.message_vi.format(**self._fields("vi")).strip()

    def _fields(self, lang: str) -> dict[str, str]:
        detail = (self.vi or self.detail) if lang == "vi" else self.detail
        fields = {"detail": detail or "-", "limit_mb": str(self.facts.get("limit_mb", "-"))}
        if self.code in (Code.PIN_INCORRECT, Code.PIN_LOCKED):
            fields.update(_pin_texts(self.facts))
        if self.code is Code.NEW_PIN_REJECTED:
            fields["reason_en"], fields["reason_vi"] = _new_pin_reason(self.facts)
        if self.code is Code.PORT_IN_USE:
            fields.update(_port_texts(self.facts))
        fields["hint_en"], fields["hint_vi"] = _hint_texts(self.code, self.facts)
        return fields

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message_en, "message_vi": self.message_vi}


def _pin_texts(facts: dict[str, Any]) -> dict[str, str]:
    """Which PIN (the user's, or the security officer's with ``so``), what is left of its
    tries, and what to do once it is locked."""
    if facts.get("so"):
        fields = {"pin_en": "SO PIN (security officer PIN)", "pin_vi": "mã PIN quản trị (SO PIN)",
                  "fix_en": "the token can no longer be unblocked; its issuer must initialise it again",
                  "fix_vi": "không thể mở khóa token được nữa; đơn vị cấp token phải khởi tạo lại token"}
        final = ("One try left: another wrong SO PIN locks it, and the token can no longer be unblocked.",
                 "Chỉ còn một lần thử: nhập sai nữa mã PIN quản trị sẽ bị khóa và không mở khóa token được nữa.")
    else:
        fields = {"pin_en": "PIN", "pin_vi": "mã PIN", "fix_en": "contact IT staff to unblock it",
                  "fix_vi": "liên hệ cán bộ CNTT để mở khóa"}
        final = ("One try left: another wrong PIN locks the token.",
                 "Chỉ còn một lần thử: nhập sai nữa token sẽ bị khóa.")
    fields["Pin_vi"] = fields["pin_vi"][0].upper() + fields["pin_vi"][1:]
    tries = ("", "")
    if facts.get("locked"):
        tries = (f"The {fields['pin_en']} is now locked.", f"{fields['Pin_vi']} đã bị khóa.")
    elif facts.get("final_try"):
        tries = final
    elif facts.get("count_low"):
        tries = ("Few tries remain.", "Số lần thử còn lại không nhiều.")
    fields["tries_en"], fields["tries_vi"] = tries
    return fields


def _new_pin_reason(facts: dict[str, Any]) -> tuple[str, str]:
    reason = facts.get("reason")
    if reason == "mismatch":
        return "the two entries differ", "hai lần nhập không giống nhau"
    if reason == "length":
        low, high = facts.get("min_len"), facts.get("max_len")
        if high is None:
            return f"it must be at least {low} characters long", f"mã PIN phải dài ít nhất {low} ký tự"
        return f"it must be {low} to {high} characters long", f"mã PIN phải dài từ {low} đến {high} ký tự"
    return ("the token refused it (too weak, or characters it does not take)",
            "token từ chối mã PIN này (quá yếu, hoặc có ký tự không được dùng)")


def _port_texts(facts: dict[str, Any]) -> dict[str, str]:
    """Who holds the port, and what else to do: the https port is the VGCA protocol's, so the
    native API can go on without it; the http port can only move."""
    holder = facts.get("holder")
    fields = {"holder_en": str(holder) if holder else "another program",
              "holder_vi": str(holder) if holder else "một chương trình khác"}
    if facts.get("tls"):
        fields["choice_en"] = ("run this one on the /v1 HTTP port only (signer serve --no-tls), leaving the "
                               "VGCA protocol to that program")
        fields["choice_vi"] = ("chỉ chạy API /v1 qua cổng HTTP (signer serve --no-tls), để giao thức VGCA "
                               "cho chương trình đó")
    else:
        fields["choice_en"] = "give this one another HTTP port (signer serve --port PORT)"
        fields["choice_vi"] = "chọn cổng HTTP khác (signer serve --port CỔNG)"
    return fields


def _hint_texts(code: Code, facts: dict[str, Any]) -> tuple[str, str]:
    """What to do, when the raiser knows: start a development configuration's test CA
    responders (``responders``: the command); add an origin to the allowlist (``allowlist``: where
    it is kept), unless a machine policy (``policy``: its file) decides the origins."""
    if code is Code.REVOCATION_UNKNOWN and facts.get("responders"):
        command = facts["responders"]
        return (f". The test CA's responders (OCSP, CRL) are not running: start them with {command}",
                f". Dịch vụ OCSP, CRL của CA thử nghiệm chưa chạy: hãy khởi động bằng lệnh {command}")
    if code is Code.ORIGIN_NOT_ALLOWED and facts.get("policy"):
        policy = facts["policy"]
        return (f" is not among the origins the machine policy ({policy}) allows, so --allow cannot add it; "
                "only an administrator can change that file",
                f" không thuộc danh sách trang web mà chính sách của máy ({policy}) cho phép, nên --allow không "
                "thêm được; chỉ quản trị viên mới sửa được tệp đó")
    if code is Code.ORIGIN_NOT_ALLOWED and facts.get("allowlist"):
        allowlist, origin = facts["allowlist"], facts.get("origin", "URL")
        return (f" is not on the allowlist ([server] allowed_origins in {allowlist}); add it with: "
                f"signer origins grant {origin} --allow",
                f" không có trong danh sách trang web được phép ([server] allowed_origins trong {allowlist}); "
                f"thêm bằng lệnh: signer origins grant {origin} --allow")
    return "", ""


def ends_batch(code: str | None) -> bool:
    """Whether a failure recorded as ``code`` ended its batch (the rest could not be signed)."""
    return code is not None and code in Code.__members__ and KINDS[Code(code)].ends_batch


def as_signer_error(exc: BaseException) -> SignerError:
    """The one conversion from any failure to a reportable error."""
    if isinstance(exc, SignerError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return SignerError(Code.USER_CANCELLED)
    if isinstance(exc, TimeoutError):
        return SignerError(Code.TIMEOUT, "no answer in time", vi="không nhận được trả lời kịp thời")
    return SignerError(Code.INTERNAL_ERROR, type(exc).__name__, vi=type(exc).__name__)


_OS_REASONS_VI = {
    errno.ENOENT: "không có tệp hoặc thư mục này",
    errno.EACCES: "không có quyền truy cập",
    errno.EPERM: "không được phép thực hiện",
    errno.ENOSPC: "ổ đĩa đã hết chỗ trống",
    errno.EDQUOT: "đã vượt hạn mức dung lượng đĩa",
    errno.EROFS: "ổ đĩa chỉ cho phép đọc",
    errno.EISDIR: "đây là thư mục, không phải tệp",
    errno.ENOTDIR: "một phần của đường dẫn không phải là thư mục",
    errno.EEXIST: "đã có tệp này",
    errno.ENAMETOOLONG: "tên tệp quá dài",
    errno.EIO: "lỗi đọc ghi thiết bị",
    errno.EBUSY: "thiết bị hoặc tài nguyên đang bận",
    errno.ECONNREFUSED: "bị từ chối kết nối",
    errno.ETIMEDOUT: "hết thời gian chờ kết nối",
}


def os_reason_vi(exc: BaseException) -> str:
    """An operating system error in Vietnamese, for the ``vi`` half of a detail whose English
    half quotes ``exc.strerror``; an error without a known number keeps the system's words."""
    number = getattr(exc, "errno", None)
    if number in _OS_REASONS_VI:
        return _OS_REASONS_VI[number]
    return f"lỗi hệ thống: {getattr(exc, 'strerror', None) or exc}"
