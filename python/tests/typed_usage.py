"""Checked with `mypy --strict` against the installed package (make test):
the public API is fully typed. Also runs as a smoke test."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Dict, List, Optional

import strongroom
from strongroom.testing import ManualClock


def main() -> None:
    clock = ManualClock(datetime(2026, 1, 1))
    kms: strongroom.Kms = strongroom.Kms.in_memory(account="111122223333", region="eu-west-1", clock=clock)
    # Members the model marks required are typed as present; the others
    # Optional (AWS's model marks few response members required).
    created_key = kms.create_key(description="typed").key_metadata
    assert created_key is not None
    md: strongroom.KeyMetadata = created_key
    state: Optional[strongroom.KeyState] = md.key_state
    created: Optional[datetime] = md.creation_date
    key_id: str = md.key_id
    kms.create_alias(alias_name="alias/typed", target_key_id=key_id)
    blob = kms.encrypt(key_id="alias/typed", plaintext=b"x", encryption_context={"a": "b"}).ciphertext_blob
    assert blob is not None
    plain: Optional[bytes] = kms.decrypt(ciphertext_blob=blob, encryption_context={"a": "b"}).plaintext
    dk: strongroom.GenerateDataKeyResponse = kms.generate_data_key(key_id=key_id, key_spec=strongroom.DataKeySpec.AES_256)
    ids: List[str] = [k.key_id or "" for k in kms.list_keys().keys or []]
    deletion: Optional[datetime] = kms.schedule_key_deletion(key_id=key_id, pending_window_in_days=7).deletion_date
    kms.cancel_key_deletion(key_id=key_id)
    kms.enable_key(key_id=key_id)
    try:
        kms.describe_key(key_id="alias/none")
    except strongroom.NotFoundException as e:
        code: str = e.code
        assert code == "NotFoundException"
    env: strongroom.Envelope = kms.envelope(key_id, cache=strongroom.CacheConfig(capacity=2))
    msg: bytes = env.encrypt(b"data", encryption_context={"k": "v"}, suite=strongroom.Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
    out: strongroom.DecryptedMessage = env.decrypt(msg)
    ctx: Dict[str, str] = out.encryption_context
    sink = io.BytesIO()
    info: strongroom.MessageInfo = env.decrypt_stream(io.BytesIO(msg), sink)
    stats: Optional[strongroom.CacheStats] = env.cache_stats()
    g: strongroom.CreateGrantResponse = kms.create_grant(
        key_id=key_id,
        grantee_principal="arn:aws:iam::111122223333:role/r",
        operations=["Decrypt"],
        constraints=strongroom.GrantConstraints(encryption_context_subset={"a": "b"}),
    )
    print(state, created, plain, len(dk.plaintext or b""), ids, deletion, ctx, info.suite, stats, g.grant_id)


if __name__ == "__main__":
    main()
