"""Shared-token HMAC challenge-response and token loading (neunet.runner.wire.auth)."""
import pytest

from neunet.runner.wire import auth


def test_session_keys_differ_by_token_nonces_and_direction():
    s, w = auth.new_nonce(), auth.new_nonce()
    to_coord, to_worker = auth.session_keys(b"secret", s, w)
    assert to_coord != to_worker
    assert auth.session_keys(b"secret", s, w) == (to_coord, to_worker)
    assert auth.session_keys(b"other", s, w)[0] != to_coord
    assert auth.session_keys(b"secret", auth.new_nonce(), w)[0] != to_coord
    assert auth.session_keys(b"secret", w, s)[0] != to_coord  # the nonces' roles matter
    assert b"secret" not in to_coord + to_worker
    with pytest.raises(auth.AuthError, match="32 bytes"):
        auth.session_keys(b"secret", b"short", w)


def test_a_hello_sealed_with_the_wrong_token_does_not_open():
    from neunet.runner.wire import frames
    s, w = auth.new_nonce(), auth.new_nonce()
    body = auth.worker_session(b"guess", s, w).seal(frames.pack_body({"t": "bye"}))[4:]
    with pytest.raises(frames.ProtocolError):
        auth.coordinator_session(b"secret", s, w).open(body)
    body = auth.worker_session(b"secret", s, w).seal(frames.pack_body({"t": "bye"}))[4:]
    assert frames.unpack(auth.coordinator_session(b"secret", s, w).open(body)) == {"t": "bye"}
    reply = auth.coordinator_session(b"secret", s, w).seal(frames.pack_body({"t": "bye"}))[4:]
    with pytest.raises(frames.ProtocolError):  # a worker checks the coordinator's proof
        auth.worker_session(b"guess", s, w).open(reply)


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
