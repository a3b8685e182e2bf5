"""The Debian package, built by installer/linux/build-deb.sh and installed into a fresh minimal
Debian root (debootstrap --variant=minbase) with its dependencies from apt: its files, the
systemd user unit (systemd-analyze verify, enabled for every user), the unit's command started
as a normal user under the machine policy, the managed browser policies written from the machine
policy's origins, the local CA trusted in the user's NSS database at the unit's start, and an
uninstall that leaves nothing behind (no unit, policy, autostart entry or trust entry).

Heavy (a few minutes, about 600 MB in the temporary folder): marker ``package``; needs root
(debootstrap, chroot, namespaces) and network access to PyPI and the Debian mirror.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from signer.browsers.firefox import RECORD_FILE
from signer.browsers.nss import NICKNAME
from signer.browsers.policies import FILE_NAME, POLICY_NAMES, policy_dirs

pytestmark = [
    pytest.mark.package,
    pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap and chroot need root (CI runs as root)"),
]

REPO = Path(__file__).resolve().parent.parent
CITY = "https://quanlyvanban.hanoi.gov.vn"
USER = "official"
UNIT = "/usr/lib/systemd/user/vn-token-signer.service"
WANTS = "/etc/systemd/user/default.target.wants/vn-token-signer.service"
AUTOSTART = "/etc/xdg/autostart/vn-token-signer-tray.desktop"
POLICY = "/etc/vn-token-signer/policy.toml"
USER_DATA = [f"/home/{USER}/.config/vn-token-signer", f"/home/{USER}/.local/share/vn-token-signer",
             f"/home/{USER}/.local/state/vn-token-signer"]
CA = f"/home/{USER}/.local/share/vn-token-signer/tls/ca.pem"
NSSDB = f"/home/{USER}/.pki/nssdb"
FIREFOX_PROFILE = f"/home/{USER}/.mozilla/firefox/abc123.default"
CHROMIUM_POLICY = f"/etc/chromium/policies/managed/{FILE_NAME}"
MANAGED = [f"{folder}/{FILE_NAME}" for folder in policy_dirs() if folder.name == "managed"]
FIREFOX_POLICY, FIREFOX_ESR_POLICY = "/etc/firefox/policies/policies.json", "/etc/firefox-esr/policies/policies.json"
# An IT department's own Firefox policies, there before the package: kept through install and removal.
FOREIGN_FIREFOX = {"policies": {"DisableTelemetry": True, "Preferences": {
    "browser.startup.homepage": {"Value": "https://intranet.example.gov.vn", "Status": "locked"}}}}
AS_USER = f"runuser -u {USER} -- env -i HOME=/home/{USER} XDG_RUNTIME_DIR=/run/user/1000 PATH=/usr/bin:/bin"


def in_root(root: Path, script: str, *, network: bool = True, timeout: float = 900) -> str:
    """``script`` (sh, as root) inside ``root``, in mount and process namespaces of its own, so
    nothing it mounts or starts outlives it; ``network=False``: a loopback of its own too."""
    mounts = (f'mount --rbind /dev "{root}/dev" && mount -t proc proc "{root}/proc" && '
              f'mount --rbind /sys "{root}/sys"')
    if not network:
        mounts += " && ip link set lo up"
    namespaces = ["--mount", "--pid", "--fork", "--kill-child"] + ([] if network else ["--net"])
    done = subprocess.run(
        ["unshare", *namespaces, "sh", "-c", f'{mounts} && exec chroot "{root}" sh -ec "$0"', script],
        capture_output=True, text=True, timeout=timeout,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"})
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    return done.stdout


def _mirror_and_suite() -> tuple[str, str]:
    """Debian's mirror as this machine's apt uses it, and this machine's release."""
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    mirror = "http://deb.debian.org/debian"
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        uris = [line.split()[1] for line in sources.read_text().splitlines() if line.startswith("URIs:")]
        mirror = uris[0] if uris else mirror
    return mirror, release["VERSION_CODENAME"].strip('"')


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package, with an organisation's machine policy (build-deb.sh --policy)."""
    work = tmp_path_factory.mktemp("deb")
    policy = work / "policy.toml"
    policy.write_text(f'[origins]\nallowed = ["{CITY}"]\n\n[revocation]\npolicy = "hard-fail"\n', "utf-8")
    done = subprocess.run([str(REPO / "installer/linux/build-deb.sh"), "--policy", str(policy), str(work / "dist")],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = (work / "dist").glob("vn-token-signer_*.deb")
    assert done.stdout.strip().endswith(str(built))
    return built


@pytest.fixture(scope="module")
def installed(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh minimal Debian with systemd (as a desktop has) and the package from apt."""
    root = tmp_path_factory.mktemp("debian") / "root"
    mirror, suite = _mirror_and_suite()
    done = subprocess.run(["debootstrap", "--variant=minbase", suite, str(root), mirror],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:]
    shutil.copy(deb, root / "tmp" / "vn-token-signer.deb")
    foreign = root / FIREFOX_POLICY.lstrip("/")
    foreign.parent.mkdir(parents=True)
    foreign.write_text(json.dumps(FOREIGN_FIREFOX, indent=4), "utf-8")
    in_root(root, "apt-get update -qq && apt-get install -y -qq --no-install-recommends systemd >/dev/null && "
                  f"useradd -m -u 1000 -s /bin/sh {USER} && install -d -m 700 -o {USER} /run/user/1000")
    in_root(root, "apt-get install -y -qq --no-install-recommends /tmp/vn-token-signer.deb >/dev/null")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_the_package_installs_with_its_dependencies_from_apt(installed: Path) -> None:
    status = in_root(installed, "dpkg-query -W -f '${Status} ${Depends}' vn-token-signer")
    assert status.startswith("install ok installed")
    for dependency in ("pcscd", "libccid", "opensc", "libnss3-tools"):
        assert dependency in status
        assert in_root(installed, f"dpkg-query -W -f '${{Status}}' {dependency}") == "install ok installed"
    assert in_root(installed, "signer --version").startswith("signer ")
    # the program's own environment, with the distribution's interpreter only
    assert (installed / "opt/vn-token-signer/bin/signer").is_file()
    assert os.readlink(installed / "usr/bin/signer") == "/opt/vn-token-signer/bin/signer"
    assert CITY in (installed / POLICY.lstrip("/")).read_text("utf-8")
    assert in_root(installed, "dpkg-query -W -f '${Conffiles}' vn-token-signer").split()[0] == POLICY


def read_json(root: Path, path: str) -> Any:
    return json.loads((root / path.lstrip("/")).read_text("utf-8"))


def test_the_browser_policies_list_the_machine_policys_origins(installed: Path) -> None:
    """postinst wrote them on the installed system: the policy's origin, not the user's or root's."""
    for path in MANAGED:
        assert read_json(installed, path) == {name: [CITY] for name in POLICY_NAMES}, path
    assert CHROMIUM_POLICY in MANAGED
    ours = read_json(installed, FIREFOX_ESR_POLICY)
    assert ours == {"policies": {"Preferences": {"network.lna.skip-domains": {
        "Value": "quanlyvanban.hanoi.gov.vn", "Status": "locked"}}}}
    # the IT department's file: its policies all there, our host added beside them
    merged = read_json(installed, FIREFOX_POLICY)
    preferences = merged["policies"].pop("Preferences")
    assert merged["policies"] == {"DisableTelemetry": True}
    assert preferences.pop("network.lna.skip-domains")["Value"] == "quanlyvanban.hanoi.gov.vn"
    assert preferences == FOREIGN_FIREFOX["policies"]["Preferences"]


def test_the_user_unit_verifies_and_is_enabled_for_every_user(installed: Path) -> None:
    in_root(installed, f"{AS_USER} systemd-analyze --user verify {UNIT}")
    assert in_root(installed, "systemctl --global is-enabled vn-token-signer.service").strip() == "enabled"
    assert os.readlink(installed / WANTS.lstrip("/")) == UNIT
    entry = (installed / AUTOSTART.lstrip("/")).read_text("utf-8")
    assert "Exec=/usr/bin/signer tray\n" in entry and "Type=Application\n" in entry


def test_a_broken_unit_is_caught_by_the_verification(installed: Path) -> None:
    """The check above can fail: the same unit naming a missing program does not verify."""
    broken = (installed / UNIT.lstrip("/")).read_text("utf-8").replace("/usr/bin/signer", "/usr/bin/absent")
    (installed / "tmp/broken.service").write_text(broken, "utf-8")
    with pytest.raises(AssertionError, match="absent is not executable"):
        in_root(installed, f"{AS_USER} systemd-analyze --user verify /tmp/broken.service")


PROBE = """
import json, sys, time, urllib.error, urllib.request
def call(method, origin=None):
    headers = {"Access-Control-Request-Method": "POST"} if method == "OPTIONS" else {}
    if origin:
        headers["Origin"] = origin
    request = urllib.request.Request("http://127.0.0.1:8986/v1/" + ("sign/pdf" if origin else "health"),
                                     method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
for _ in range(240):  # the daemon's first start makes its TLS keys
    try:
        health = call("GET")
        break
    except OSError:
        time.sleep(0.5)
print(json.dumps({"health": health, "city": call("OPTIONS", sys.argv[1]),
                  "evil": call("OPTIONS", "https://evil.example")}))
"""


def _unit_setting(root: Path, key: str) -> str:
    lines = (root / UNIT.lstrip("/")).read_text("utf-8").splitlines()
    (value,) = [line.split("=", 1)[1] for line in lines if line.startswith(f"{key}=")]
    return value


def _exec_start(root: Path) -> str:
    return _unit_setting(root, "ExecStart")


def _exec_start_pre(root: Path) -> str:
    """The command systemd runs before the daemon; "-": its failure must not keep the daemon from starting."""
    command = _unit_setting(root, "ExecStartPre")
    assert command.startswith("-"), command
    return command[1:]


def our_entries(root: Path, db: str) -> list[str]:
    """The trust flags of each certificate under our nickname in the user's NSS database ``db``."""
    listing = in_root(root, f"{AS_USER} certutil -L -d sql:{db}", network=False)
    return [line.split()[-1] for line in listing.splitlines() if line.startswith(NICKNAME + " ")]


def ca_in(root: Path, db: str) -> bytes:
    """The certificate under our nickname in ``db``, as DER."""
    pem = in_root(root, f'{AS_USER} certutil -L -d sql:{db} -n "{NICKNAME}" -a', network=False)
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)


def users_ca(root: Path) -> bytes:
    return x509.load_pem_x509_certificate((root / CA.lstrip("/")).read_bytes()).public_bytes(Encoding.DER)


def test_the_units_command_starts_the_daemon_as_a_normal_user_under_the_machine_policy(installed: Path) -> None:
    config = installed / f"home/{USER}/.config/vn-token-signer/signer.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[server]\nallowed_origins = ["https://evil.example"]\n', "utf-8")
    (installed / "tmp/probe.py").write_text(PROBE, "utf-8")
    in_root(installed, f"chown -R {USER}: /home/{USER}/.config")
    # as systemd starts the unit: ExecStartPre (the local CA trusted), then ExecStart
    out = in_root(installed, f"""
        {AS_USER} {_exec_start_pre(installed)} > /tmp/trust.log
        {AS_USER} {_exec_start(installed)} > /tmp/serve.log 2>&1 &
        daemon=$!
        {AS_USER} /opt/vn-token-signer/bin/python /tmp/probe.py {CITY} > /tmp/probe.json
        {AS_USER} signer origins list --json > /tmp/origins.json
        kill $daemon; wait $daemon || true""", network=False)
    log = (installed / "tmp/serve.log").read_text("utf-8")
    assert "Listening: http://127.0.0.1:8986 https://127.0.0.1:8987" in log, out + log
    probe = json.loads((installed / "tmp/probe.json").read_text("utf-8"))
    assert probe["health"][0] == 200 and json.loads(probe["health"][1])["status"] == "ok"
    assert probe["city"][0] in (200, 204)
    assert probe["evil"][0] == 403 and "ORIGIN_NOT_ALLOWED" in probe["evil"][1]
    origins = json.loads((installed / "tmp/origins.json").read_text("utf-8"))
    assert origins["allowed"] == ["https://quanlyvanban.hanoi.gov.vn:443"] and origins["machine_policy"] == POLICY
    # the daemon ran as the official: its files are the official's and private
    token = installed / f"home/{USER}/.config/vn-token-signer/api-token"
    assert token.stat().st_uid == 1000 and token.stat().st_mode & 0o077 == 0
    # the CA the daemon serves with is trusted for TLS servers in the official's NSS database
    assert our_entries(installed, NSSDB) == ["C,,"], (installed / "tmp/trust.log").read_text("utf-8")
    assert ca_in(installed, NSSDB) == users_ca(installed)
    assert (installed / NSSDB.lstrip("/") / "cert9.db").stat().st_uid == 1000


def test_the_unit_is_not_restarted_for_an_exit_a_restart_cannot_mend(installed: Path) -> None:
    from signer.errors import KINDS, Code

    kept_down = {KINDS[code].exit_code for code in (Code.PORT_IN_USE, Code.ALREADY_RUNNING, Code.CONFIG_INVALID)}
    assert _unit_setting(installed, "Restart") == "on-failure"
    assert {int(status) for status in _unit_setting(installed, "RestartPreventExitStatus").split()} == kept_down


def _leftovers(root: Path) -> list[str]:
    """Paths naming the program, outside apt's and dpkg's own records and logs."""
    records = ("var/lib/dpkg", "var/lib/apt", "var/cache", "var/log", "tmp", "proc", "sys", "dev")
    found = []
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root).as_posix()
        if relative.startswith(records):
            dirs.clear()
            continue
        found += [f"/{relative}/{name}" for name in dirs + files if "vn-token-signer" in name or name == "signer"]
    return sorted(found)


def _policies_left(root: Path) -> list[str]:
    """Our browser policy files and records, and the folders the package made for them, still there."""
    folders = {next(p.parent for p in [f, *f.parents] if p.name == "policies") for f in policy_dirs()}
    folders.discard(Path("/etc/firefox"))  # it holds the IT department's policies.json
    files = [*MANAGED, FIREFOX_ESR_POLICY, *(f"{f}/{RECORD_FILE}" for f in policy_dirs() if f.name == "policies")]
    return sorted(str(p) for p in [*map(Path, files), *folders] if os.path.lexists(root / p.relative_to("/")))


def test_upgrade_keeps_policies_and_trust_remove_takes_them_and_purge_leaves_nothing(
        installed: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(installed), str(root)], check=True, timeout=600)
    # a Firefox profile that has run once (it has its NSS database), then the unit's trust step
    profiles = root / f"home/{USER}/.mozilla/firefox/profiles.ini"
    profiles.parent.mkdir(parents=True)
    profiles.write_text("[Profile0]\nName=default\nIsRelative=1\nPath=abc123.default\n", "utf-8")
    in_root(root, f"""
        chown -R {USER}: /home/{USER}/.mozilla
        {AS_USER} mkdir {FIREFOX_PROFILE}
        {AS_USER} certutil -N -d sql:{FIREFOX_PROFILE} --empty-password
        {AS_USER} signer origins grant {CITY} >/dev/null
        {AS_USER} {_exec_start_pre(root)} >/dev/null""", network=False)
    assert all((root / path.lstrip("/")).is_dir() for path in USER_DATA)
    for db in (NSSDB, FIREFOX_PROFILE):
        assert our_entries(root, db) == ["C,,"] and ca_in(root, db) == users_ca(root), db

    # an upgrade (here the same version again: prerm upgrade, then postinst configure)
    in_root(root, "dpkg -i /tmp/vn-token-signer.deb >/dev/null", network=False)
    assert read_json(root, CHROMIUM_POLICY) == {name: [CITY] for name in POLICY_NAMES}
    assert "quanlyvanban.hanoi.gov.vn" in (root / FIREFOX_POLICY.lstrip("/")).read_text("utf-8")
    assert our_entries(root, NSSDB) == ["C,,"] and our_entries(root, FIREFOX_PROFILE) == ["C,,"]
    shipped = in_root(root, "dpkg -L vn-token-signer").split()

    in_root(root, "apt-get remove -y -qq vn-token-signer >/dev/null")
    for path in (UNIT, WANTS, AUTOSTART, "/usr/bin/signer", "/opt/vn-token-signer"):
        assert not os.path.lexists(root / path.lstrip("/")), path
    assert _policies_left(root) == []
    assert read_json(root, FIREFOX_POLICY) == FOREIGN_FIREFOX
    assert our_entries(root, NSSDB) == [] and our_entries(root, FIREFOX_PROFILE) == [], "no trust entry is left"
    assert (root / POLICY.lstrip("/")).is_file(), "the machine policy is a conffile: kept until purge"
    assert all((root / path.lstrip("/")).is_dir() for path in USER_DATA), "user data is kept unless purged"
    assert in_root(root, "systemctl --global is-enabled vn-token-signer.service || true").strip() != "enabled"

    in_root(root, "apt-get purge -y -qq vn-token-signer >/dev/null")
    assert _leftovers(root) == []
    assert not [path for path in shipped if os.path.lexists(root / path.lstrip("/"))
                and not (root / path.lstrip("/")).is_dir()]
    assert in_root(root, "dpkg-query -W -f '${Status}' vn-token-signer 2>&1 || true").count("installed") == 0
    assert read_json(root, FIREFOX_POLICY) == FOREIGN_FIREFOX
