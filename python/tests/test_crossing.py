"""How requests and answers cross into the native module: native values
(dicts, bytes) through one generated method per row of the operation table,
errors raised as their classes."""

import re
from typing import Any, Dict, List

import pytest

import strongroom
from strongroom import _native, _operations


class Spy:
    """Records which native entry points a typed call uses."""

    def __init__(self, native: Any) -> None:
        self._native = native
        self.used: List[str] = []

    def __getattr__(self, name: str) -> Any:
        self.used.append(name)
        return getattr(self._native, name)


def test_bytes_in_bytes_out(kms: strongroom.Kms) -> None:
    key = kms.create_key().key_metadata.key_id
    for pt in (b"\x00\xffdata", bytearray(b"\x00\xffdata"), memoryview(b"\x00\xffdata")):
        ct = kms.encrypt(key_id=key, plaintext=pt, encryption_context={"a": "b"})
        assert type(ct.ciphertext_blob) is bytes
        out = kms.decrypt(ciphertext_blob=ct.ciphertext_blob, encryption_context={"a": "b"})
        assert type(out.plaintext) is bytes and out.plaintext == b"\x00\xffdata"
    # the escape hatch: the same path, AWS-shaped dicts with bytes
    raw = kms.call("Encrypt", {"KeyId": key, "Plaintext": b"raw", "EncryptionContext": {"k": "v"}})
    assert isinstance(raw, dict) and type(raw["CiphertextBlob"]) is bytes
    back = kms.call("Decrypt", {"CiphertextBlob": raw["CiphertextBlob"], "EncryptionContext": {"k": "v"}})
    assert back["Plaintext"] == b"raw" and back["KeyId"].endswith(key)
    # every secret answer is bytes, never text
    dk = kms.call("GenerateDataKey", {"KeyId": key, "NumberOfBytes": 16})
    assert type(dk["Plaintext"]) is bytes and len(dk["Plaintext"]) == 16
    assert type(dk["CiphertextBlob"]) is bytes
    assert kms.call("EnableKey", {"KeyId": key}) is None
    with pytest.raises(strongroom.ValidationException, match="unknown operation"):
        kms.call("NoSuchOperation", {})


def test_secrets_are_redacted_and_never_text(kms: strongroom.Kms) -> None:
    key = kms.create_key().key_metadata.key_id
    secret = b"TOPSECRET-" * 10
    ct = kms.encrypt(key_id=key, plaintext=secret).ciphertext_blob
    out = kms.decrypt(ciphertext_blob=ct)
    # the answer holds the plaintext as bytes only: no hex or base64 text of it
    values = list(out.to_dict().values())
    assert secret in values
    assert not any(isinstance(v, str) and (secret.hex() in v or "VE9QU0VDUkVU" in v) for v in values)
    assert "TOPSECRET" not in repr(out) and "plaintext=<redacted>" in repr(out)
    dk = kms.generate_data_key(key_id=key, key_spec="AES_256")
    assert dk.plaintext.hex() not in repr(dk)


def _dummy(annotation: str) -> Any:
    if annotation.startswith("bytes"):
        return b"x"
    if annotation.startswith(("Sequence", "List")):
        return []
    if annotation.startswith(("Mapping", "Dict")) or "Mapping" in annotation:
        return {}
    if annotation.startswith("int"):
        return 1
    if annotation.startswith("bool"):
        return False
    return "x"


def _required(fn: Any) -> Dict[str, Any]:
    """The required keyword arguments of a generated method, with dummy
    values of their documented types (from its generated docstring)."""
    doc = fn.__doc__ or ""
    return {m.group(1): _dummy(m.group(2)) for m in re.finditer(r"^\s+(\w+) \((.+), required\)", doc, re.M)}


def test_every_operation_is_reachable_through_its_generated_method(kms: strongroom.Kms) -> None:
    rows = _native.operations()
    assert len(rows) >= 48 and len({m for _, m in rows}) == len(rows)
    for name, method in rows:
        typed = getattr(strongroom.Kms, method)
        assert typed.__qualname__ == f"Operations.{method}", name
        assert name in (typed.__doc__ or ""), name
        assert callable(getattr(kms._native, method)), name
        spy = Spy(kms._native)
        k = strongroom.Kms(spy)  # type: ignore[arg-type]
        try:
            getattr(k, method)(**_required(typed))
        except strongroom.KmsError:
            pass  # dummy values: refused by the core, but they got there
        assert spy.used == [method], (name, spy.used)
    # and nothing else is generated
    generated = {n for n, v in vars(_operations.Operations).items() if callable(v) and not n.startswith("_")}
    assert generated == {m for _, m in rows}


def test_errors_are_raised_as_their_classes_by_the_native_module(kms: strongroom.Kms) -> None:
    for code in _native.error_codes():
        cls = strongroom.ERRORS[code]
        assert cls.code == code and cls.__name__ == code and issubclass(cls, strongroom.KmsError)
    # straight from the native method, no Python wrapper in between
    with pytest.raises(strongroom.NotFoundException) as e:
        kms._native.describe_key({"KeyId": "alias/missing"})
    assert e.value.code == "NotFoundException" and "alias/missing" in str(e.value)
    key = kms.create_key().key_metadata.key_id
    kms.disable_key(key_id=key)
    with pytest.raises(strongroom.DisabledException):
        kms.encrypt(key_id=key, plaintext=b"x")
    with pytest.raises(strongroom.ValidationException, match="KeyId"):
        kms.call("Encrypt", {"Plaintext": b"x"})
    with pytest.raises(strongroom.AlreadyExistsException):
        kms.create_alias(alias_name="alias/a", target_key_id=key)
        kms.create_alias(alias_name="alias/a", target_key_id=key)


def test_results_are_read_only_and_compare_by_value(kms: strongroom.Kms) -> None:
    md = kms.create_key(description="d").key_metadata
    again = kms.describe_key(key_id=md.key_id).key_metadata
    assert md == again and hash(md) == hash(again)
    with pytest.raises(AttributeError):
        md.key_id = "other"  # type: ignore[misc]
    assert md.to_dict()["KeyId"] == md.key_id
    assert strongroom.Tag("k", "v") == strongroom.Tag(tag_key="k", tag_value="v")
    assert strongroom.Tag("k", "v").to_dict() == {"TagKey": "k", "TagValue": "v"}
    assert strongroom.KeyState.ENABLED == "Enabled" and str(strongroom.KeyState.ENABLED) == "Enabled"
