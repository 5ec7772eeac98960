"""``RegAuth``: the one facade every front end (CLI, REST, magics, widget) calls.

It ties profiles, the credential store, the trust store and the registry client together, so the
flow "pick a registry, verify, store" is written once.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .credentials import DockerConfig
from .credentials.errors import ConfigFileError
from .credentials.types import Credentials
from .errors import ConfigError, CredentialHelperError, RegAuthError
from .profiles import ProfileStore, RegistryProfile, normalize_host
from .reference import Reference, parse, push_target
from .registry import RegistryClient, RegistryUnreachable, TLSError, TrustConfig
from .registry.errors import AuthenticationFailed, CANotIssuer, UnknownCA
from .registry.trust import (
    SSLContexts,
    ca_to_trust,
    fetch_chain,
    fingerprint,
    load_pem_bundle,
    pem,
    store_trust,
    trust_stored,
    user_certs_root,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from cryptography import x509

    from .images.artifact import ArtifactFile
    from .images.copy import CopyResult
    from .images.progress import ProgressCallback
    from .images.push import PushResult
    from .images.source import BlobSource
    from .images.spec import BuildSpec
    from .kube.apply import KubeReport, RolloutReport
    from .kube.facade import BuildJobResult

log = logging.getLogger(__name__)
#: How many registries ``statuses`` asks at once.
STATUS_THREADS = 8


@dataclass
class RegistryStatus:
    """A registry as ``regauth ls`` and the panel show it: reachable, trusted, logged in."""

    host: str
    name: str
    # "admin", "user", "config" (credentials in config.json, no profile), or "none" (a host
    # asked about that is in neither)
    source: str
    reachable: bool | None = None
    trusted: bool | None = None
    authenticated: bool | None = None
    auth_scheme: str | None = None
    username: str | None = None
    token_expires_at: float | None = None
    insecure: bool = False
    error: dict[str, object] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CertificateInfo:
    """The facts of a certificate a person checks before trusting it."""

    subject: str
    issuer: str
    fingerprint: str
    not_before: str
    not_after: str

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertificateInfo:
        return cls(
            cert.subject.rfc4514_string(),
            cert.issuer.rfc4514_string(),
            fingerprint(cert),
            cert.not_valid_before_utc.isoformat(),
            cert.not_valid_after_utc.isoformat(),
        )


@dataclass
class TrustOffer:
    """What a server presents, and the certificate ``trust`` would store for it."""

    host: str
    chain: list[CertificateInfo]
    ca: CertificateInfo
    ca_pem: str
    already_trusted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "chain": [c.__dict__ for c in self.chain],
            "ca": self.ca.__dict__,
            "ca_pem": self.ca_pem,
            "already_trusted": self.already_trusted,
        }


@dataclass
class LoginResult:
    """What a login stored, and where."""

    host: str
    username: str
    stored_as: str  # "password" or "identity token"
    config_path: str
    certs_dir: str | None = None
    profile_saved: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RegAuth:
    """The core facade. Explicit configuration, no global state: pass what differs."""

    def __init__(
        self,
        *,
        profiles: ProfileStore | None = None,
        docker_config: DockerConfig | None = None,
        certs_root: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.profiles = profiles or ProfileStore()
        self.docker_config = docker_config or DockerConfig()
        self.certs_root = certs_root or user_certs_root()
        self.timeout = timeout
        # One TLS context per trust configuration for all of this object's clients: making one
        # costs tens of milliseconds, which the server and the widget would pay on each call.
        self.ssl_contexts = SSLContexts()

    # -- lookups -------------------------------------------------------------------------------

    def profile(self, host: str) -> RegistryProfile:
        host = normalize_host(host)
        return self.profiles.get(host) or RegistryProfile(host=host)

    def trust_for(self, host: str) -> TrustConfig:
        return self.profile(host).trust(roots=self._roots())

    def _roots(self) -> list[Path]:
        from .registry.trust import SYSTEM_CERTS_ROOTS

        return [self.certs_root, *SYSTEM_CERTS_ROOTS]

    def client(self, host: str, credentials: Credentials | None = None) -> RegistryClient:
        host = normalize_host(host)
        if credentials is None:
            credentials = self.docker_config.get(host)
        return RegistryClient(
            registry_api_host(host),
            credentials=credentials,
            trust=self.trust_for(host),
            timeout=self.timeout,
            ssl_contexts=self.ssl_contexts,
        )

    # -- status --------------------------------------------------------------------------------

    def registries(self) -> list[RegistryStatus]:
        """Every registry the user can pick or is logged in to, without contacting them.

        A row that cannot be used (an invalid entry in the administrator's or the user's
        profiles, a key in config.json that is not a registry host, credentials a missing
        helper holds) carries its ``error`` instead of breaking the list.
        """
        seen: dict[str, RegistryStatus] = {}
        for profile in self.profiles.all():
            seen[profile.host] = RegistryStatus(
                profile.host, profile.name, profile.source, insecure=profile.insecure
            )
        problems = {"admin": self.profiles.admin_problems(), "user": self.profiles.user_problems()}
        for source, listed in problems.items():
            for text, problem in listed:
                seen.setdefault(text, RegistryStatus(text, text, source, error=problem.to_dict()))
        unreadable: CredentialHelperError | None = None
        try:
            config_hosts = self.docker_config.hosts()
        except CredentialHelperError as exc:
            # A config.json copied from Docker Desktop ("credsStore": "desktop") names a helper
            # this machine lacks: the hosts it holds are unknown, and each row below says why.
            config_hosts, unreadable = [], exc
        for host in config_hosts:
            if host not in seen:
                seen[host] = RegistryStatus(host, host, "config")
                try:
                    normalize_host(host)
                except ConfigError as exc:
                    seen[host].error = exc.to_dict()
        for status in seen.values():
            if status.error is None or status.source == "config":
                try:
                    creds = self.docker_config.get(status.host)
                except CredentialHelperError as exc:
                    status.error, unreadable = exc.to_dict(), None
                    continue
                except ConfigFileError as exc:  # this host's entry; the others still work
                    status.error = exc.to_dict()
                    continue
                status.username = creds.username if creds else None
        if unreadable is not None:
            raise unreadable  # no row says it: an empty list would hide it
        return list(seen.values())

    def statuses(self, hosts: Sequence[str] | None = None) -> list[RegistryStatus]:
        """``status`` of ``hosts``, or of every registry in ``registries`` (a row with an error
        is not contacted), all asked at once: one that never answers holds up only its own
        row, until the timeout, and not those after it."""
        rows: list[str | RegistryStatus] = (
            list(hosts)
            if hosts is not None
            else [r.host if r.error is None else r for r in self.registries()]
        )
        asked = [row for row in rows if isinstance(row, str)]
        if len(asked) < 2:
            return [self.status(row) if isinstance(row, str) else row for row in rows]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(len(asked), STATUS_THREADS), "status") as pool:
            answers = iter(list(pool.map(self.status, asked)))  # the first error is raised
        return [next(answers) if isinstance(row, str) else row for row in rows]

    def status(self, host: str) -> RegistryStatus:
        """Contact the registry: reachable, trusted, authenticated, token expiry."""
        host = normalize_host(host)
        profile = self.profile(host)
        creds = self.docker_config.get(host)
        known = self.profiles.get(host)
        status = RegistryStatus(
            host,
            profile.name,
            known.source if known else "config" if creds else "none",
            insecure=profile.insecure,
            username=creds.username if creds else None,
        )
        # With TLS verification off nothing is trusted or distrusted: trusted stays None.
        verified = None if profile.insecure else True
        try:
            with self.client(host, creds) as client:
                ping = client.ping()
                status.reachable, status.trusted = True, verified
                status.auth_scheme = ping.auth_scheme
                status.authenticated = ping.status < 400 if creds else None
                status.token_expires_at = client.auth.token_expiry()
        except RegistryUnreachable as exc:
            status.reachable, status.error = False, exc.to_dict()
        except TLSError as exc:
            status.reachable, status.trusted, status.error = True, False, exc.to_dict()
        except AuthenticationFailed as exc:
            status.reachable, status.trusted = True, verified
            status.authenticated, status.error = False, exc.to_dict()
        except RegAuthError as exc:
            status.reachable, status.error = True, exc.to_dict()
        return status

    # -- trust ---------------------------------------------------------------------------------

    def offer_trust(self, host: str) -> TrustOffer:
        """Fetch the server's chain and say which CA ``trust`` would store (to confirm first)."""
        host = normalize_host(host)
        chain = fetch_chain(registry_api_host(host))
        if not chain:
            raise TLSError(f"{host} presented no certificate", host=host)
        ca = ca_to_trust(chain)
        already = False
        try:
            with self.client(host, Credentials()) as client:
                client.ping()
                already = True
        except TLSError:
            already = False
        return TrustOffer(
            host,
            [CertificateInfo.of(c) for c in chain],
            CertificateInfo.of(ca),
            pem(ca).decode(),
            already,
        )

    def trust(self, host: str, ca_pem: str | bytes, *, expected_fingerprint: str = "") -> Path:
        """Store a CA for ``host`` in ``certs.d/<host>/ca.crt`` and check the registry now
        verifies with it; ``expected_fingerprint`` (of any certificate in the bundle) guards
        against a swap between showing and storing."""
        host = normalize_host(host)
        data = ca_pem.encode() if isinstance(ca_pem, str) else ca_pem
        certs = load_pem_bundle(data, "CA certificate")
        if expected_fingerprint:
            wanted = expected_fingerprint.replace(":", "").upper()
            if not any(fingerprint(c).replace(":", "") == wanted for c in certs):
                raise ConfigError(
                    "the certificate does not have the fingerprint that was confirmed",
                    hint="fetch the chain again and compare the fingerprint out of band",
                )
        # The CA alone, verified (never insecure), with the client pair the registry may want.
        probe = RegistryClient(
            registry_api_host(host),
            credentials=Credentials(),
            trust=replace(self.trust_for(host), ca_pem=data, insecure=False),
            timeout=self.timeout,
        )
        with probe, _given_ca():
            probe.ping()  # raises UnknownCA etc. before anything is written
        return store_trust(host, ca_pem=data, root=self.certs_root)

    # -- login / logout ------------------------------------------------------------------------

    def login(
        self,
        host: str,
        username: str,
        password: str,
        *,
        ca_pem: bytes | None = None,
        client_cert: bytes | None = None,
        client_key: bytes | None = None,
        insecure: bool | None = None,
        save_profile: bool = True,
        store_password: bool = False,
    ) -> LoginResult:
        """Verify the credentials (and CA) against the registry; only then store them.

        Where the token service hands out a refresh token, that identity token is stored instead
        of the password, unless ``store_password``: tools that read only a username and password
        (the kubelet reading a pull Secret) need the password itself.

        Nothing is written when verification fails."""
        host = normalize_host(host)
        require_username(username)
        if not password:
            raise ConfigError("a password or token is needed to log in")
        self.docker_config.check(host)
        profile = self.profile(host)
        verified_with = profile
        temp_pair: tuple[Path, Path] | None = None
        if client_cert is not None and client_key is not None:
            temp_pair = _temp_client_pair(client_cert, client_key)
            # The pair given, not certs.d's: a half pair there is what this login replaces.
            verified_with = replace(
                profile, client_cert=str(temp_pair[0]), client_key=str(temp_pair[1])
            )
        try:
            trust = verified_with.trust(roots=self._roots())
            if ca_pem is not None:
                load_pem_bundle(ca_pem, "CA certificate")
                # Alone: the CAs already trusted would pass a wrong one, which then replaces them.
                trust = replace(trust, ca_pem=ca_pem)
            if insecure is not None:
                trust = replace(trust, insecure=insecure)
            if ca_pem is not None and trust.insecure:
                # With TLS verification off nothing is checked against the CA: it would be
                # stored in certs.d, for other tools to verify with, without ever being tried.
                raise _ca_unused_when_insecure(host, from_profile=insecure is None)
            if temp_pair:
                _check_client_pair(*temp_pair)
            with (
                RegistryClient(
                    registry_api_host(host),
                    credentials=Credentials(username=username, password=password),
                    trust=trust,
                    timeout=self.timeout,
                ) as client,
                _given_ca() if ca_pem is not None else nullcontext(),
            ):
                to_store = client.check_login()
                if store_password:
                    to_store = Credentials(username=username, password=password)
        finally:
            if temp_pair:
                for path in temp_pair:
                    path.unlink(missing_ok=True)
                temp_pair[0].parent.rmdir()
        certs_dir = None
        saved = False
        # The profile and certs.d are put back if a later step fails; the credentials, which a
        # helper may hold (where they cannot be put back), are stored last.
        with ExitStack() as written:
            if save_profile and self.profiles.get(host) is None:
                added = RegistryProfile(host=host, username=username, insecure=bool(insecure))
                written.enter_context(self.profiles.user_saved(added))
                saved = True
            elif insecure and profile.source == "user" and not profile.insecure:
                written.enter_context(self.profiles.user_saved(replace(profile, insecure=True)))
            if ca_pem is not None or client_cert is not None:
                certs_dir = str(
                    written.enter_context(
                        trust_stored(
                            host,
                            ca_pem=ca_pem,
                            client_cert=client_cert,
                            client_key=client_key,
                            root=self.certs_root,
                        )
                    )
                )
            self.docker_config.store(host, to_store)
        log.info("logged in to %s as %s", host, username)
        return LoginResult(
            host,
            username,
            "identity token" if to_store.identity_token else "password",
            str(self.docker_config.path),
            certs_dir,
            saved,
        )

    def logout(self, host: str) -> bool:
        host = normalize_host(host)
        removed = self.docker_config.erase(host)
        log.info("logged out of %s", host)
        return removed

    # -- browsing ------------------------------------------------------------------------------

    def catalog(self, host: str) -> list[str]:
        with self.client(host) as client:
            return client.catalog()

    def tags(self, repository: str) -> list[str]:
        ref = parse(repository)
        with self.client(ref.domain) as client:
            return client.tags(ref.path)

    def inspect(self, reference: str | Reference, *, platform: str | None = None) -> dict[str, Any]:
        """The manifest (and, for an image, its config) of a reference, with its digest. With
        ``platform`` (``os/arch[/variant]``), an index is resolved to that platform's image, as
        ``crane manifest --platform`` does, and a single-platform image must be for it."""
        from .images.manifest import Document, Platform, check_platform, select_platform

        ref = parse(reference) if isinstance(reference, str) else reference
        wanted = Platform.parse(platform) if platform else None
        with self.client(ref.domain) as client:
            manifest = client.get_manifest(ref.path, ref.identifier)
            result: dict[str, Any] = {"reference": str(ref)}
            if wanted is not None:
                index = Document.parse(manifest.data, manifest.media_type or None)
                if index.is_index:
                    chosen = select_platform(index, wanted)
                    manifest = client.get_manifest(ref.path, chosen.digest)
                    result["index_digest"] = index.digest
                    result["platform"] = str(chosen.platform)
            body = manifest.json()
            result |= {
                "digest": manifest.digest,
                "media_type": manifest.media_type or body.get("mediaType"),
                "manifest": body,
            }
            config = body.get("config") if isinstance(body, dict) else None
            if config and config.get("mediaType", "").endswith(
                ("config.v1+json", "container.image.v1+json")
            ):
                with client.open_blob(ref.path, config["digest"]) as chunks:
                    result["config"] = json.loads(b"".join(chunks))
                if wanted is not None and "platform" not in result:
                    check_platform(result["config"], wanted, str(ref))
            return result

    # -- images --------------------------------------------------------------------------------
    # Image code is imported when used, so verbs that do not build stay quick to start.

    def push_directory(
        self,
        directory: str | Path,
        reference: str,
        *,
        base: str | None = None,
        dest: str = "/model",
        platform: str | None = None,
        compression: str | None = None,
        exclude: Sequence[str] = (),
        progress: ProgressCallback | None = None,
    ) -> PushResult:
        """Put ``directory`` under ``dest`` on ``base`` (empty when None) and push it, its layer
        compressed with ``compression`` (gzip when None, or zstd). What the directory's
        ``.dockerignore`` and then ``exclude`` match is left out, as ``docker build`` does with
        its context."""
        from .images.errors import ImageError
        from .images.ignore import Excludes, read_ignore_file
        from .images.spec import BuildSpec

        if not str(directory).strip():  # Path("") is ".": it would push the working directory
            raise ConfigError("no directory given to push", hint="give the model directory")
        if not reference.strip():
            raise ConfigError(
                "no image given to push to", hint="give an image reference, e.g. team/model:v1"
            )
        if not Path(directory).is_dir():
            raise ImageError(f"{directory} is not a directory", hint="give the model directory")
        ignore_file = Path(directory) / ".dockerignore"
        ignored = read_ignore_file(ignore_file) if ignore_file.is_file() else Excludes()
        given = Excludes(exclude)  # a bad pattern is named as given, not as the spec's layers[0]
        src = str(Path(directory).resolve())
        spec = BuildSpec.from_dict(
            {
                "base": base,
                "platform": platform,
                "layers": [{"src": src, "dest": dest, "exclude": ignored.followed_by(given)}],
                "compression": compression,
            }
        )
        return self.build_push(spec, reference, progress=progress)

    def build_push(
        self, spec: BuildSpec, reference: str, *, progress: ProgressCallback | None = None
    ) -> PushResult:
        """Build ``spec`` and push it to ``reference`` without writing a layout."""
        from .images.walks import Walks

        target = push_target(reference)
        # The layers' files are walked while the rest of the image code loads, the client
        # connects and the registry is asked.
        with Walks(spec.layers) as walks, ExitStack() as stack:
            from .images.layer import stat_source
            from .images.push import push_build

            for layer in spec.layers:  # named as such, not as a registry that cannot be reached
                stat_source(layer.src)
            client = stack.enter_context(self.client(target.domain))
            base = self._base_source(stack, spec, client)
            return push_build(spec, target, client, base=base, progress=progress, walks=walks)

    def _base_source(
        self, stack: ExitStack, spec: BuildSpec, target_client: RegistryClient
    ) -> BlobSource | None:
        """A local layout (``oci:PATH[:REF]`` or a layout directory) or a registry reference."""
        from .images.remote import RegistrySource
        from .images.source import layout_base, open_base

        text = (spec.base or "").strip()
        if text in ("", "scratch"):
            return None
        if layout_base(text) is not None:
            return open_base(text, spec.platform)
        ref = parse(text).with_default_tag()
        if normalize_host(ref.domain) == normalize_host(target_client.host):
            client = target_client
        else:
            client = stack.enter_context(self.client(ref.domain))
        return RegistrySource(client, ref, spec.platform)

    def copy(
        self,
        source: str,
        destination: str,
        *,
        all_platforms: bool = True,
        platform: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> CopyResult:
        """Copy a tag or digest (every platform of an index) to a registry, digests kept. The
        source is a registry reference or an OCI layout, ``oci:PATH[:REF]`` (as skopeo names it)."""
        from .images.copy import LayoutCopySource, copy_between
        from .images.layout import OCILayout
        from .images.manifest import Platform
        from .images.remote import RegistrySource
        from .images.source import parse_layout_ref

        dst = parse(destination)
        options: dict[str, Any] = {
            "all_platforms": all_platforms,
            "platform": Platform.parse(platform) if platform else None,
            "progress": progress,
        }
        with ExitStack() as stack:
            dst_client = stack.enter_context(self.client(dst.domain))
            if source.startswith("oci:"):
                path, ref = parse_layout_ref(source)
                layout_source = LayoutCopySource(OCILayout.open(path), ref)
                return copy_between(layout_source, ref, dst_client, dst, **options)
            src = parse(source).with_default_tag()
            same = normalize_host(src.domain) == normalize_host(dst.domain)
            src_client = dst_client if same else stack.enter_context(self.client(src.domain))
            return copy_between(
                RegistrySource(src_client, src), src.tag, dst_client, dst, **options
            )

    def mirror(
        self, listing: str, target: str, *, progress: ProgressCallback | None = None
    ) -> list[CopyResult]:
        """Copy each ``SRC [DST]`` line of ``listing``. ``target`` is ``HOST[/PREFIX]``: a line
        without DST goes to its source's path in HOST, under PREFIX (as ``skopeo sync``)."""
        from .images.copy import parse_mirror_list

        text = target.strip()
        host, _, prefix = (text.partition("://")[2] or text).partition("/")  # a URL's scheme off
        host, prefix = normalize_host(host), prefix.strip("/")
        if prefix:
            Reference(host, prefix)  # validated once, so that an error names it as given
        results: list[CopyResult] = []
        for line in parse_mirror_list(listing, host, prefix):
            try:
                results.append(self.copy(line.src, line.dst, progress=progress))
            except RegAuthError as exc:
                # Which line of many, and what is done: the lines before it stay copied.
                exc.message = f"mirror list line {line.number} ({line.src}): {exc.message}"
                exc.args = (exc.message,)
                if results:
                    done = f"the {len(results)} line(s) before it were copied"
                    exc.hint = f"{exc.hint}; {done}" if exc.hint else done
                raise
        return results

    def push_artifact(
        self,
        reference: str,
        files: Sequence[str | ArtifactFile],
        *,
        artifact_type: str | None = None,
        annotations: dict[str, str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> PushResult:
        """Push files and directories as an OCI artifact (ORAS-compatible): each a path as
        ``oras push`` takes it, or an ``ArtifactFile`` with a title of its own."""
        from .images.artifact import ArtifactFile, push_artifact

        target = push_target(reference)
        with self.client(target.domain) as client:
            return push_artifact(
                client,
                target,
                [f if isinstance(f, ArtifactFile) else ArtifactFile.parse(f) for f in files],
                artifact_type=artifact_type,
                annotations=annotations,
                progress=progress,
            )

    def pull(
        self,
        reference: str,
        directory: str | Path,
        *,
        oci_layout: bool = False,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """An artifact's files into ``directory``, or (``oci_layout``) the image, every
        platform, into an OCI layout there, named by the reference's tag."""
        from .images.artifact import pull_artifact
        from .images.copy import LayoutTarget, copy_image
        from .images.layout import OCILayout
        from .images.remote import RegistrySource

        ref = parse(reference).with_default_tag()
        with self.client(ref.domain) as client:
            if oci_layout:
                source = RegistrySource(client, ref)
                top = source.fetch_manifest(ref.identifier)  # missing: no empty layout is left
                layout = OCILayout.create(directory)
                _, result = copy_image(
                    source, LayoutTarget(layout), ref.tag, progress=progress, top=top
                )
                result.reference = f"oci:{directory}:{ref.tag}" if ref.tag else str(directory)
                return result.to_dict()
            doc, files = pull_artifact(client, ref, directory, progress=progress)
            return {
                "reference": f"{ref.repository}@{doc.digest}",
                "digest": doc.digest,
                "artifact_type": doc.data.get("artifactType"),
                "files": [f.to_dict() for f in files],
            }

    # -- kubernetes ----------------------------------------------------------------------------
    # ``options`` are KubeOptions fields: kubeconfig, context, home, service_accounts,
    # kaptain_names. The namespace is detected (in-cluster, NB_PREFIX, kubeconfig) when None.

    def kube_apply(self, host: str, namespace: str | None = None, **options: Any) -> KubeReport:
        """Secrets, PodDefault and ServiceAccount pull secrets for ``host`` in ``namespace``."""
        from .kube import facade

        return facade.run(self, "apply", host, namespace, facade.KubeOptions(**options))

    def kube_status(self, host: str, namespace: str | None = None, **options: Any) -> KubeReport:
        """Each object ``kube_apply`` writes: exists, matches, drifted fields."""
        from .kube import facade

        return facade.run(self, "status", host, namespace, facade.KubeOptions(**options))

    def kube_remove(self, host: str, namespace: str | None = None, **options: Any) -> KubeReport:
        """Delete exactly what ``kube_apply`` wrote for ``host``."""
        from .kube import facade

        return facade.run(self, "remove", host, namespace, facade.KubeOptions(**options))

    def kube_rollout(
        self, host: str, selector: str, *, remove: bool = False, workers: int = 8, **options: Any
    ) -> RolloutReport:
        """``kube_apply`` (or ``remove``) in every namespace matching the label ``selector``."""
        from .kube import facade

        verb = "remove" if remove else "apply"
        kube = facade.KubeOptions(**options)
        return facade.run_rollout(self, verb, host, selector, kube, workers)

    def kube_build_job(
        self, context_dir: str | Path, image: str, namespace: str | None = None, **options: Any
    ) -> BuildJobResult:
        """Push ``context_dir`` as an artifact and create a Job building ``image`` from it;
        ``dockerfile``, ``builder`` ("buildkit" or "kaniko") and ``create`` pass through."""
        from .kube import facade

        build = {k: options.pop(k) for k in ("dockerfile", "builder", "create") if k in options}
        kube = facade.KubeOptions(**options)
        return facade.build(self, context_dir, image, namespace, kube, **build)


def require_username(username: str) -> None:
    """A login needs a username (the command line checks it before asking for the password)."""
    if not username:
        raise ConfigError("a username is needed to log in", hint="give the username too")


def registry_api_host(host: str) -> str:
    """Docker Hub's API lives on registry-1.docker.io; everything else on its own host."""
    return "registry-1.docker.io" if host == "docker.io" else host


@contextmanager
def _given_ca() -> Iterator[None]:
    """Where a CA was given to verify with, an unknown CA means that one does not sign the
    server's certificate: the usual advice (trust a CA, give one) is what was just done."""
    try:
        yield
    except UnknownCA as exc:
        raise CANotIssuer.of(exc) from exc


def _ca_unused_when_insecure(host: str, *, from_profile: bool) -> ConfigError:
    unchecked = "TLS is not verified, so the CA would be stored without being checked"
    if from_profile:
        return ConfigError(
            f"a CA certificate is not used for {host}: its profile marks it insecure, so "
            + unchecked,
            hint="leave the CA out, or log in with TLS verification on (insecure off) to "
            "check the registry's certificate against it",
        )
    return ConfigError(
        f"a CA certificate is not used for an insecure login to {host}: {unchecked}",
        hint="give the CA, to verify the registry's certificate with it, or insecure, not both",
    )


def _temp_client_pair(cert: bytes, key: bytes) -> tuple[Path, Path]:
    directory = Path(tempfile.mkdtemp(prefix="regauth-client-"))
    cert_path, key_path = directory / "client.cert", directory / "client.key"
    cert_path.write_bytes(cert)
    key_path.touch(mode=0o600)
    key_path.write_bytes(key)
    return cert_path, key_path


def _check_client_pair(cert: Path, key: Path) -> None:
    """Load the client certificate and key given (kept in temporary files only for this): an
    error names what was given, not the files, which are gone by the time anyone reads it."""
    import ssl

    try:  # a bare context: the system's CA roots (tens of milliseconds) are not needed here
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError):
        raise ConfigError(
            "the client certificate and key given could not be loaded",
            hint="give a PEM certificate (-----BEGIN CERTIFICATE-----) and its matching, "
            "unencrypted PEM private key",
        ) from None


def expires_in(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    seconds = int(timestamp - time.time())
    return f"{seconds // 60} min" if seconds >= 60 else f"{max(seconds, 0)} s"
