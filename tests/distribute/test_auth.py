"""Only the search's own workers: the chief's token check and TLS, on real gRPC servers and processes on loopback."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import keras_tuner as kt
import pytest
from keras_tuner.src import protos
from keras_tuner.src.distribute.oracle_client import OracleClient

from kt_wandb.distribute._auth import TokenRefused, check_serving, connect, is_loopback, worker_channel
from kt_wandb.distribute._chief import Servicer, _bound_server
from tests.helpers.environment import child_env

SCRIPT = Path(__file__).parents[1] / "tuners" / "distributed_search.py"
TOKEN = "s3cret-token-of-this-search"


def _oracle(tmp_path: Path) -> kt.Oracle:
    hp = kt.HyperParameters()
    hp.Int("units", 1, 100)
    oracle = kt.oracles.RandomSearchOracle(
        objective=kt.Objective("score", "max"), max_trials=4, hyperparameters=hp, seed=0
    )
    oracle._set_project_dir(str(tmp_path), "search")
    return oracle


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _chief(oracle: kt.Oracle, monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[str]:
    """The chief's real gRPC server of `oracle` on a loopback port, under `env`; yields its address."""
    port = _free_port()
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    server = _bound_server(Servicer(oracle), f"127.0.0.1:{port}")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=0)


def _create_trial(channel: grpc.Channel) -> kt.engine.trial.Trial:
    stub = protos.get_service_grpc().OracleStub(channel)
    response = stub.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id="worker0"), timeout=30)
    return kt.engine.trial.Trial.from_proto(response.trial)


def test_requests_without_the_token_or_with_another_are_refused_and_change_nothing(tmp_path, monkeypatch, capsys):
    oracle = _oracle(tmp_path)
    with _chief(oracle, monkeypatch, KT_WANDB_TOKEN=TOKEN) as address:
        # KerasTuner's own client (an insecure channel, no token), as anyone who reaches the port would be.
        with grpc.insecure_channel(address) as channel:
            stub = protos.get_service_grpc().OracleStub(channel)
            for _ in range(3):
                with pytest.raises(grpc.RpcError) as refused:
                    stub.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id="intruder"), timeout=30)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "Expected the search's KT_WANDB_TOKEN, received no token" in refused.value.details()
            with pytest.raises(grpc.RpcError, match="UNAUTHENTICATED"):  # a forced end of a trial: refused too
                stub.EndTrial(protos.get_service().EndTrialRequest(trial=kt.engine.trial.Trial(
                    oracle.get_space(), trial_id="00", status="COMPLETED").to_proto()), timeout=30)
        with worker_channel(address, {"KT_WANDB_TOKEN": "another"}) as channel:
            with pytest.raises(TokenRefused, match="this worker sent a token the chief does not have"):
                _create_trial(channel)
        assert oracle.trials == {} and oracle.tuner_ids == set()  # nothing in the search changed

        with worker_channel(address, {"KT_WANDB_TOKEN": TOKEN}) as channel:
            trial = _create_trial(channel)
        assert list(oracle.trials) == [trial.trial_id] and oracle.ongoing_trials["worker0"].trial_id == trial.trial_id
    said = [line for line in capsys.readouterr().err.splitlines() if "refused a request" in line]
    assert said == ["kt-wandb: refused a request from 127.0.0.1 with no token (KT_WANDB_TOKEN); further refusals "
                    "of 127.0.0.1 are not logged."]  # one line for the host, however many requests
    assert TOKEN not in capsys.readouterr().out


def test_a_worker_whose_token_is_refused_is_told_to_set_the_variable_before_it_takes_a_trial(tmp_path, monkeypatch):
    oracle = _oracle(tmp_path)
    with _chief(oracle, monkeypatch, KT_WANDB_TOKEN=TOKEN) as address:
        monkeypatch.delenv("KT_WANDB_TOKEN")
        client = OracleClient(_oracle(tmp_path / "worker"))  # KerasTuner's, as a worker's tuner builds it
        with pytest.raises(TokenRefused, match=r"Expected the chief on .* KT_WANDB_TOKEN, received a refusal: this "
                                               r"worker sent no token\. To fix, give the chief and every worker"):
            connect(client, address)
        assert oracle.trials == {}
        monkeypatch.setenv("KT_WANDB_TOKEN", TOKEN)
        connect(client, address)
        assert client.create_trial("worker0").trial_id in oracle.trials


def test_a_worker_process_with_another_token_exits_at_once_creating_no_trial(tmp_path, monkeypatch, wandb_env):
    oracle = _oracle(tmp_path)
    with _chief(oracle, monkeypatch, KT_WANDB_TOKEN=TOKEN) as address:
        host, port = address.split(":")
        env = child_env(KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port, KERASTUNER_TUNER_ID="worker0",
                        KT_WANDB_TOKEN="not-the-searchs")
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "worker"), "4"], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode != 0, done.stdout[-3000:]
    assert "TokenRefused: Expected the chief on" in done.stderr and "To fix" in done.stderr, done.stderr[-3000:]
    assert time.monotonic() - started < 120  # not KerasTuner's hour of waiting
    assert oracle.trials == {} and not list((tmp_path / "worker").rglob("trial_*"))
    assert "not-the-searchs" not in done.stdout + done.stderr  # the token is never printed


def test_a_chief_beyond_loopback_without_a_token_refuses_to_serve_unless_told_to(capsys):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("chief.example")
    check_serving({"KERASTUNER_ORACLE_IP": "127.0.0.1"})
    check_serving({"KERASTUNER_ORACLE_IP": "0.0.0.0", "KT_WANDB_TOKEN": TOKEN})
    with pytest.raises(ValueError, match=r"Expected KT_WANDB_TOKEN for a chief serving on 0\.0\.0\.0.*received "
                                         r"none\. To fix.*KT_WANDB_INSECURE=1 serves without one"):
        check_serving({"KERASTUNER_ORACLE_IP": "0.0.0.0"})
    assert "KT_WANDB_INSECURE" not in capsys.readouterr().err
    check_serving({"KERASTUNER_ORACLE_IP": "0.0.0.0", "KT_WANDB_INSECURE": "1"})
    warned = capsys.readouterr().err
    assert "serving the oracle on 0.0.0.0 without KT_WANDB_TOKEN (KT_WANDB_INSECURE=1): anyone" in warned


def test_a_chief_tuner_refuses_before_it_wipes_its_project_directory(tmp_path, monkeypatch, tiny_model):
    from kt_wandb import WandbTuner

    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "0.0.0.0")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(_free_port()))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    monkeypatch.delenv("KT_WANDB_TOKEN", raising=False)
    kept = tmp_path / "search" / "kept.txt"
    kept.parent.mkdir()
    kept.write_text("a previous search")
    with pytest.raises(ValueError, match="Expected KT_WANDB_TOKEN"):
        WandbTuner(tiny_model, objective="val_loss", max_trials=1, directory=str(tmp_path), project_name="search",
                   overwrite=True)
    assert kept.read_text() == "a previous search"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, signed by its own key; the certificate's and the key's files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kt-wandb test chief")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "chief.pem", folder / "chief.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_a_chief_with_certificates_serves_tls_to_workers_that_check_it(tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path)
    oracle = _oracle(tmp_path)
    tls = {"KT_WANDB_TLS_CERT": str(cert), "KT_WANDB_TLS_KEY": str(key)}
    with _chief(oracle, monkeypatch, KT_WANDB_TOKEN=TOKEN, **tls) as address:
        client = OracleClient(_oracle(tmp_path / "worker"))
        with pytest.raises(ConnectionError, match=r"DEADLINE_EXCEEDED.*To fix.*give this worker KT_WANDB_TLS_CA"):
            connect(client, address, {"KT_WANDB_TOKEN": TOKEN}, timeout_s=3)  # plain text to a TLS server
        assert oracle.trials == {}
        connect(client, address, {"KT_WANDB_TOKEN": TOKEN, "KT_WANDB_TLS_CA": str(cert)})
        assert client.create_trial("worker0").trial_id in oracle.trials
        with pytest.raises(TokenRefused):  # TLS lets no one in without the token
            connect(client, address, {"KT_WANDB_TLS_CA": str(cert)})


def test_a_certificate_without_its_key_is_refused(tmp_path, monkeypatch):
    cert, _ = _self_signed(tmp_path)
    with pytest.raises(ValueError, match=r"Expected both KT_WANDB_TLS_CERT and KT_WANDB_TLS_KEY, received only "
                                         r"KT_WANDB_TLS_CERT\. To fix"):
        with _chief(_oracle(tmp_path), monkeypatch, KT_WANDB_TLS_CERT=str(cert)):
            pass


def test_a_workers_later_search_reads_the_finished_search_without_asking_a_chief(monkeypatch):
    # After a first search() the worker's tuner reads its own oracle (the chief is gone): no channel, no request.
    from kt_wandb.tuners._roles import Worker

    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(_free_port()))  # nothing serves there
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    searched: list[tuple] = []

    class Finished:  # a worker's tuner after its first search(), as far as the role sees it
        _local_oracle = oracle = object()

        def _search_trials(self, fit_args, fit_kwargs):
            searched.append((fit_args, fit_kwargs))

    started = time.monotonic()
    Worker().search(Finished(), (1,), {"epochs": 1})
    assert searched == [((1,), {"epochs": 1})] and time.monotonic() - started < 5
