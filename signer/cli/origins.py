"""``signer origins``: allowed origins and the official's remembered consents."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Code, SignerError
from .output import print_json

if TYPE_CHECKING:
    from policies.origins import OriginAllowlist

    from ..config import Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("origins", parents=[common], help="allowed origins and consents / trang web được phép")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common],
                                 help="allowed origins and consents / trang web được phép và sự đồng ý")
    listing.add_argument("--json", action="store_true", help="machine-readable output / kết quả dạng JSON")
    grant = actions.add_parser("grant", parents=[common],
                               help="remember consent for an origin / ghi nhớ sự đồng ý cho một trang web")
    grant.add_argument("origin", help="the web origin, scheme://host[:port] / trang web, dạng scheme://host[:port]")
    grant.add_argument("--allow", action="store_true",
                       help="also add the origin to the allowlist ([server] allowed_origins of the configuration) / "
                            "thêm trang web vào danh sách được phép")
    grant.add_argument("--raw", "--hash", dest="raw", action="store_true",
                       help="also allow signing data or digests the page chose (sign/cms, sign/hash, SignJson, "
                            "SignMsg), whose content no dialog can show / cho phép cả ký dữ liệu hoặc giá trị băm "
                            "do trang web chọn, nội dung không hiển thị được")
    grant.add_argument("--cert", metavar="SHA256",
                       help="only for this certificate (its SHA-256 fingerprint); default: any certificate / "
                            "chỉ cho chứng thư số này (dấu vân tay SHA-256); mặc định: mọi chứng thư số")
    revoke = actions.add_parser("revoke", parents=[common],
                                help="forget the consent of an origin / thu hồi sự đồng ý của một trang web")
    revoke.add_argument("origin", help="the web origin / trang web cần thu hồi")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..service.consent import ANY, RAW, SIGN, ConsentStore

    store = ConsentStore(settings.server.state_dir / "consents.json")
    if args.action == "grant":
        _allowed(args.origin, settings, add=args.allow)
        origin = store.grant(args.origin, [SIGN, RAW] if args.raw else [SIGN], args.cert or ANY)
        print(f"Đã cho phép / Consent granted: {origin}")
        return 0
    if args.action == "revoke":
        if not store.revoke(args.origin):
            raise SignerError(Code.NOT_FOUND, f"no consent for {args.origin}",
                              vi=f"chưa có sự đồng ý nào cho {args.origin}")
        print(f"Đã thu hồi / Consent revoked: {args.origin}")
        return 0
    allowed = _allowlist(settings).listed()
    consents = store.load()
    unattended = list(settings.consent.unattended)
    if args.json:
        print_json({"allowed": allowed, "consents": consents, "unattended": unattended,
                    "machine_policy": str(settings.policy.path) if settings.policy else None})
        return 0
    if settings.policy and settings.policy.origins is not None:
        print(f"Theo chính sách máy / Set by the machine policy: {settings.policy.path}")
    print("Trang web được phép / Allowed origins:")
    for origin in allowed or ["-"]:
        print(f"  {origin}")
    print("Đã đồng ý / Consents (phạm vi @ chứng thư / scopes @ certificate SHA-256):")
    if not consents:
        print("  -")
    for origin in sorted(consents):
        granted_at = consents[origin].get("granted_at", "") if isinstance(consents[origin], dict) else ""
        print(f"  {origin}  {granted_at}")
        for phrase in store.described(origin):
            print(f"    {phrase}")
    print("Ký không cần xác nhận (cấu hình [consent] unattended) / "
          "Signing without confirmation (configuration [consent] unattended):")
    for origin in unattended or ["-"]:
        print(f"  {origin}  miễn xác nhận / exempt")
    return 0


def _allowlist(settings: Settings) -> OriginAllowlist:
    from policies.errors import vietnamese
    from policies.origins import load_allowlist

    try:
        return load_allowlist(settings.server.allowed_origins,
                              only=settings.policy.origins if settings.policy else None)
    except ValueError as exc:
        raise SignerError(Code.CONFIG_INVALID, str(exc),
                          vi=vietnamese(exc, "danh sách trang web được phép không hợp lệ")) from None


def _allowed(origin: str, settings: Settings, *, add: bool) -> None:
    """A consent only matters for an origin on the allowlist: refuse any other, or (``add``)
    put it on the user's list, unless the machine policy decides the origins."""
    from policies.origins import normalize_origin

    normalized = normalize_origin(origin)
    if normalized is None:
        raise SignerError(Code.BAD_REQUEST, f"not a web origin (scheme://host[:port]): {origin}",
                          vi=f"không phải địa chỉ trang web (scheme://host[:port]): {origin}")
    if _allowlist(settings).allow_origin(normalized):
        return
    if settings.policy is not None and not settings.policy.allows(normalized):
        raise SignerError(Code.ORIGIN_NOT_ALLOWED, normalized, vi=normalized, policy=str(settings.policy.path))
    path = settings.path or _user_config()
    if not add:
        raise SignerError(Code.ORIGIN_NOT_ALLOWED, normalized, vi=normalized, allowlist=str(path), origin=normalized)
    from .config_file import add_to_array

    add_to_array(path, "server", "allowed_origins", normalized)
    print(f"Đã thêm vào danh sách trang web được phép / Added to the allowed origins: {normalized} ({path})")


def _user_config() -> Path:
    """Where the user's configuration goes when there is none yet (``config_path`` looks there)."""
    import platformdirs

    from ..config import APP_NAME

    return Path(platformdirs.user_config_dir(APP_NAME)) / "signer.toml"
