"""A real directory for the LDAP tests: Debian's slapd (OpenLDAP) started by the test as
its own process on a free loopback port, with a test directory loaded with ldapadd.

The directory: people ada (in the staff group), bert, cleo (disabled the way Active
Directory marks it: userAccountControl with bit 2) and dora; the staff group
cn=chat-staff; a service account cn=chat that the site binds as (anonymous clients read
nothing; it is also the group's placeholder member, since a groupOfNames is never
empty). userAccountControl is declared under Active Directory's own OID, so the tests
use AD's filter for disabled accounts verbatim."""

import ipaddress
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.servers import free_port

SLAPD = "/usr/sbin/slapd"
BASE = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "admin-secret"
SERVICE_DN = f"cn=chat,ou=services,{BASE}"
SERVICE_PASSWORD = "service-secret"
PEOPLE = f"ou=people,{BASE}"
STAFF_GROUP = f"cn=chat-staff,ou=groups,{BASE}"
# Active Directory's "account disabled" test (userAccountControl bit 2, ACCOUNTDISABLE).
AD_DISABLED_FILTER = "(userAccountControl:1.2.840.113556.1.4.803:=2)"
PASSWORDS = {"ada": "ada-pass-1", "bert": "bert-pass-2", "cleo": "cleo-pass-3", "dora": "dora-4"}
START_TIMEOUT_SECONDS = 10

_CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
    EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.26.1 NAME 'chatTestAccount' AUXILIARY
    MAY userAccountControl )
pidfile {dir}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 16777216
suffix "{base}"
rootdn "{admin}"
rootpw {admin_password}
directory {dir}/data
{tls}access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
"""


def _person(uid: str, given: str, sn: str, control: int) -> str:
    return f"""\
dn: uid={uid},{PEOPLE}
objectClass: inetOrgPerson
objectClass: chatTestAccount
uid: {uid}
cn: {given} {sn}
givenName: {given}
sn: {sn}
mail: {uid}@example.org
userPassword: {PASSWORDS[uid]}
userAccountControl: {control}
"""


DIRECTORY = "\n".join(
    [
        f"""\
dn: {BASE}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{BASE}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{BASE}
objectClass: organizationalUnit
ou: services

dn: {SERVICE_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: chat
userPassword: {SERVICE_PASSWORD}
""",
        _person("ada", "Ada", "Lovelace", 512),
        _person("bert", "Bert", "Sutherland", 512),
        _person("cleo", "Cleo", "Disabled", 514),
        _person("dora", "Dora", "Leaving", 512),
        f"""\
dn: {STAFF_GROUP}
objectClass: groupOfNames
cn: chat-staff
member: {SERVICE_DN}
member: uid=ada,{PEOPLE}
""",
    ]
)


@dataclass
class Slapd:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        """The site's settings (CHAT_LDAP_*) for this directory."""
        return {
            "CHAT_LDAP_URL": self.url,
            "CHAT_LDAP_BIND_DN": SERVICE_DN,
            "CHAT_LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
            "CHAT_LDAP_USER_SEARCH_BASE": PEOPLE,
            "CHAT_LDAP_STAFF_GROUP": STAFF_GROUP,
            "CHAT_LDAP_DISABLED_FILTER": AD_DISABLED_FILTER,
            **extra,
        }

    def _tool(self, tool: str, ldif: str, *args: str) -> None:
        done = subprocess.run(
            [tool, "-x", "-H", self.url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD, *args],
            input=ldif.encode(),
            capture_output=True,
            timeout=10,
            check=False,
        )
        assert done.returncode == 0, f"{tool} failed: {done.stderr.decode()}"

    def add(self, ldif: str) -> None:
        self._tool("ldapadd", ldif)

    def modify(self, ldif: str) -> None:
        self._tool("ldapmodify", ldif)

    def delete(self, dn: str) -> None:
        self._tool("ldapdelete", "", dn)

    def can_bind(self, uid: str) -> bool:
        """Whether the directory itself accepts this person's password."""
        done = subprocess.run(
            ["ldapwhoami", "-x", "-H", self.url, "-D", f"uid={uid},{PEOPLE}", "-w", PASSWORDS[uid]],
            capture_output=True,
            timeout=10,
            check=False,
        )
        return done.returncode == 0

    def disable(self, uid: str) -> None:
        self.modify(
            f"dn: uid={uid},{PEOPLE}\nchangetype: modify\n"
            "replace: userAccountControl\nuserAccountControl: 514\n"
        )

    def group_member(self, uid: str, *, add: bool) -> None:
        self.modify(
            f"dn: {STAFF_GROUP}\nchangetype: modify\n"
            f"{'add' if add else 'delete'}: member\nmember: uid={uid},{PEOPLE}\n"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def available() -> str | None:
    """Why the directory cannot run here, or None."""
    missing = [
        tool
        for tool in (SLAPD, "ldapadd", "ldapmodify", "ldapdelete", "ldapwhoami")
        if shutil.which(tool) is None
    ]
    return f"{', '.join(missing)} (apt-get install slapd ldap-utils)" if missing else None


def certificates(workdir: Path, name: str = "ca") -> tuple[Path, Path, Path]:
    """A CA (its certificate at <name>.pem) and a certificate it signed for 127.0.0.1:
    (CA file, server certificate, server key), for StartTLS."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def issue(
        subject: str, key: Any, issuer: Any, signer: Any, ca: bool
    ) -> tuple[x509.Certificate, x509.Name]:
        subject_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject_name)
            .issuer_name(issuer or subject_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256()), subject_name

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert, ca_name = issue(f"chat test {name}", ca_key, None, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert, _ = issue("127.0.0.1", key, ca_name, ca_key, False)
    paths = (workdir / f"{name}.pem", workdir / "server.pem", workdir / "server.key")
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@contextmanager
def slapd(workdir: Path, *, tls: bool = False) -> Iterator[Slapd]:
    """slapd with the test directory loaded, stopped afterwards; `tls`: it offers
    StartTLS with a certificate signed by workdir/ca.pem."""
    (workdir / "data").mkdir(parents=True)
    tls_lines = ""
    if tls:
        ca, cert, key = certificates(workdir)
        tls_lines = (
            f"TLSCACertificateFile {ca}\nTLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n"
        )
    config = workdir / "slapd.conf"
    config.write_text(
        _CONFIG.format(
            dir=workdir, base=BASE, admin=ADMIN_DN, admin_password=ADMIN_PASSWORD, tls=tls_lines
        )
    )
    port = free_port()
    log_path = workdir / "slapd.log"
    with log_path.open("wb") as log:
        # -d 0: stays in the foreground (a child of the test), logging nothing extra.
        proc = subprocess.Popen(
            [SLAPD, "-f", str(config), "-h", f"ldap://127.0.0.1:{port}/", "-d", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Slapd(port=port, proc=proc, log_path=log_path)
    try:
        _wait_ready(server)
        server.add(DIRECTORY)
        yield server
    finally:
        server.stop()


def _wait_ready(server: Slapd) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"slapd exited at start:\n{server.log_path.read_text()}")
        probe = subprocess.run(
            ["ldapwhoami", "-x", "-H", server.url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD],
            capture_output=True,
            timeout=5,
            check=False,
        )
        if probe.returncode == 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"slapd did not answer in {START_TIMEOUT_SECONDS}s")
