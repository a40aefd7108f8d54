"""Shared-token HMAC challenge-response and token loading (neunet.runner.wire.auth)."""
import pytest

from neunet.runner.wire import auth


def test_proofs_match_only_with_the_same_token_and_nonces():
    s, w = auth.new_nonce(), auth.new_nonce()
    mac = auth.worker_proof(b"secret", s, w)
    assert auth.check(auth.worker_proof(b"secret", s, w), mac)
    assert not auth.check(auth.worker_proof(b"other", s, w), mac)
    assert not auth.check(auth.worker_proof(b"secret", auth.new_nonce(), w), mac)
    # the coordinator's proof is not the worker's proof replayed
    assert not auth.check(auth.coordinator_proof(b"secret", s, w), mac)
    assert not auth.check(mac, "not bytes")
    assert b"secret" not in mac


def test_load_token_from_file_env_and_errors(tmp_path):
    f = tmp_path / "tok"
    f.write_text("  abc123\n")
    assert auth.load_token(str(f), environ={}) == b"abc123"
    assert auth.load_token(None, environ={"NEUNET_TOKEN": "xyz"}) == b"xyz"
    assert auth.load_token(None, environ={}) is None
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(auth.AuthError, match="is empty"):
        auth.load_token(str(tmp_path / "empty"), environ={})
    with pytest.raises(auth.AuthError, match="cannot read token file"):
        auth.load_token(str(tmp_path / "missing"), environ={})


def test_non_loopback_binding_requires_a_token():
    auth.require_token_for("127.0.0.1", None)
    auth.require_token_for("localhost", None)
    auth.require_token_for("::1", None)
    auth.require_token_for("0.0.0.0", b"t")
    with pytest.raises(auth.AuthError, match="refusing to listen on 0.0.0.0"):
        auth.require_token_for("0.0.0.0", None)
    with pytest.raises(auth.AuthError):
        auth.require_token_for("", None)
