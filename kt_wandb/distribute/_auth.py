"""Who may talk to the chief: the search's token on every request, and TLS where certificates are given.

KerasTuner's oracle service has neither (`add_insecure_port`,
`insecure_channel`): anyone who reaches its port could take trials, send
scores, force a prune or end the search. Here the chief answers only the
requests that carry the search's token (`KT_WANDB_TOKEN`, gRPC metadata
compared in constant time) and refuses the others with `UNAUTHENTICATED`,
saying so once for each host refused; a worker's channel adds the token to
each request, and a refusal ends the worker with an error that names the
variable. With `KT_WANDB_TLS_CERT` and `KT_WANDB_TLS_KEY` the chief serves
TLS; workers given `KT_WANDB_TLS_CA` check its certificate against it.
"""

from __future__ import annotations

import collections
import hmac
import ipaddress
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import grpc

from kt_wandb._handshake import TOKEN_ENV
from kt_wandb._keras_tuner import protos, use_channel
from kt_wandb._log import logger

__all__ = [
    "INSECURE_ENV", "TLS_CA_ENV", "TLS_CERT_ENV", "TLS_KEY_ENV", "TokenCheck", "TokenRefused", "bind",
    "check_serving", "connect", "is_loopback", "server_interceptors", "token", "worker_channel",
]

# Serve beyond loopback without a token all the same (with a warning).
INSECURE_ENV = "KT_WANDB_INSECURE"
# The chief's certificate and private key (PEM files): it serves TLS.
TLS_CERT_ENV = "KT_WANDB_TLS_CERT"
TLS_KEY_ENV = "KT_WANDB_TLS_KEY"
# The certificate (PEM) a worker checks the chief's against: it connects with TLS.
TLS_CA_ENV = "KT_WANDB_TLS_CA"

_HEADER = "authorization"  # gRPC metadata keys are lowercase
_SCHEME = "Bearer "
_FIX = (
    f"To fix, give the chief and every worker the same {TOKEN_ENV} (`kt-wandb launch` makes one for its own "
    f"processes; on several hosts set it yourself, e.g. to the output of "
    f"`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
)
# How long a worker's first request waits for the chief's answer.
_FIRST_ANSWER_S = 120.0


def token(environ: Mapping[str, str] | None = None) -> str | None:
    """The search's token (`KT_WANDB_TOKEN`), or None where it is unset or empty."""
    env = os.environ if environ is None else environ
    return env.get(TOKEN_ENV) or None


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only: `localhost`, 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost, or 0.0.0.0's kind: reachable from others
        return False


def check_serving(environ: Mapping[str, str] | None = None) -> None:
    """Refuses a chief that would serve beyond this machine without a token; `KT_WANDB_INSECURE=1` warns instead.

    Raises:
        ValueError: Where `KERASTUNER_ORACLE_IP` is not loopback and neither
            `KT_WANDB_TOKEN` nor `KT_WANDB_INSECURE=1` is set.
    """
    env = os.environ if environ is None else environ
    host = env.get("KERASTUNER_ORACLE_IP", "")
    if token(env) or is_loopback(host):
        return
    if env.get(INSECURE_ENV, "").strip().lower() in ("1", "true", "yes"):
        logger.warning(f"serving the oracle on {host} without {TOKEN_ENV} ({INSECURE_ENV}=1): anyone who can "
                       f"reach the port can take trials, send scores or end the search.")
        return
    raise ValueError(
        f"Expected {TOKEN_ENV} for a chief serving on {host}, an address other machines can reach, received "
        f"none. {_FIX} On a network no one else uses, {INSECURE_ENV}=1 serves without one."
    )


def _read(name: str, env: Mapping[str, str]) -> bytes | None:
    path = env.get(name)
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(
            f"Expected {name} to name a readable PEM file, received {path!r} ({exc.strerror}). "
            f"To fix, give the file's path, or unset {name}."
        ) from exc


def bind(server: Any, address: str, environ: Mapping[str, str] | None = None) -> int:
    """Binds `server` to `address`, with TLS where `KT_WANDB_TLS_CERT` and `KT_WANDB_TLS_KEY` are set.

    Returns:
        The port bound; 0 where it could not be.
    """
    env = os.environ if environ is None else environ
    cert, key = _read(TLS_CERT_ENV, env), _read(TLS_KEY_ENV, env)
    if (cert is None) != (key is None):
        raise ValueError(
            f"Expected both {TLS_CERT_ENV} and {TLS_KEY_ENV}, received only "
            f"{TLS_CERT_ENV if cert is not None else TLS_KEY_ENV}. To fix, set both (the chief's certificate "
            f"and its private key, PEM files) or neither."
        )
    if cert is None or key is None:
        return int(server.add_insecure_port(address))
    return int(server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)])))


def _peer_host(peer: str) -> str:
    """`ipv4:10.0.0.5:43210` → `10.0.0.5`: each connection has a port of its own, a host one name."""
    kind, _, rest = peer.partition(":")
    return rest.rsplit(":", 1)[0] if kind in ("ipv4", "ipv6") else peer


class TokenCheck(grpc.ServerInterceptor):
    """The chief's gate: a request without the search's token never reaches the oracle.

    Args:
        expected: The search's token.
    """

    def __init__(self, expected: str) -> None:
        self._expected = (_SCHEME + expected).encode()
        self._lock = threading.Lock()
        self.refused_hosts: set[str] = set()

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        sent = dict(details.invocation_metadata or ()).get(_HEADER, "")
        if isinstance(sent, str) and hmac.compare_digest(sent.encode(), self._expected):
            return continuation(details)
        what = "no token" if not sent else "another token"
        return grpc.unary_unary_rpc_method_handler(lambda request, context: self._refuse(what, context))

    def _refuse(self, what: str, context: Any) -> None:
        host = _peer_host(context.peer())
        with self._lock:
            first = host not in self.refused_hosts
            self.refused_hosts.add(host)
        if first:
            logger.warning(f"refused a request from {host} with {what} ({TOKEN_ENV}); further refusals of "
                           f"{host} are not logged.")
        context.abort(grpc.StatusCode.UNAUTHENTICATED, f"Expected the search's {TOKEN_ENV}, received {what}. {_FIX}")


def server_interceptors(environ: Mapping[str, str] | None = None) -> list[TokenCheck]:
    """The chief server's interceptors: the token check where `KT_WANDB_TOKEN` is set, else none."""
    expected = token(environ)
    return [TokenCheck(expected)] if expected else []


class TokenRefused(PermissionError):
    """The chief refused this worker's token."""


class _Details(
    collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready",
                                        "compression")),
    grpc.ClientCallDetails,
):
    pass


class _TokenSender(grpc.UnaryUnaryClientInterceptor):
    """A worker's side: the token on each request, and a refusal turned into `TokenRefused`."""

    def __init__(self, sent: str | None, address: str) -> None:
        self._metadata = [(_HEADER, _SCHEME + sent)] if sent else []
        self._address = address

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), *self._metadata]
        outcome = continuation(_Details(details.method, details.timeout, metadata, details.credentials,
                                        details.wait_for_ready, details.compression), request)
        if outcome.code() == grpc.StatusCode.UNAUTHENTICATED:
            mine = "a token the chief does not have" if self._metadata else "no token"
            raise TokenRefused(
                f"Expected the chief on {self._address} to accept this worker's {TOKEN_ENV}, received a refusal: "
                f"this worker sent {mine}. {_FIX}"
            )
        return outcome


def worker_channel(address: str, environ: Mapping[str, str] | None = None) -> Any:
    """A worker's channel to the chief: the token on each request; TLS where `KT_WANDB_TLS_CA` is set."""
    env = os.environ if environ is None else environ
    ca = _read(TLS_CA_ENV, env)
    if ca is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=ca))
    return grpc.intercept_channel(channel, _TokenSender(token(env), address))


def connect(client: Any, address: str, environ: Mapping[str, str] | None = None,
            timeout_s: float = _FIRST_ANSWER_S) -> None:
    """Sends the requests of `client` (KerasTuner's `OracleClient`) over `worker_channel`, and asks the chief once.

    The first request is read-only (the search space), so a worker the chief
    refuses ends before it takes a trial.

    Raises:
        TokenRefused: Where the chief refuses this worker's token.
        ConnectionError: Where the chief gives no gRPC answer in `timeout_s`
            (a chief serving TLS to a worker without `KT_WANDB_TLS_CA`, say).
    """
    use_channel(client, worker_channel(address, environ))
    try:
        client.stub.GetSpace(protos.get_service().GetSpaceRequest(), wait_for_ready=True, timeout=timeout_s)
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        raise ConnectionError(
            f"Expected the chief on {address} to answer this worker, received {getattr(code, 'name', exc)} "
            f"after up to {timeout_s:g} s. To fix, check that the chief serves there; if it serves TLS "
            f"({TLS_CERT_ENV}), give this worker {TLS_CA_ENV}, and if this worker has {TLS_CA_ENV}, the chief "
            f"{TLS_CERT_ENV} and {TLS_KEY_ENV}."
        ) from exc
