#!/usr/bin/env bash
# The AWS CLI against `strongroom serve`: create-key / encrypt / decrypt /
# list-keys round trip. Usage: aws_cli.sh STRONGROOM_BIN AWS_BIN
set -euo pipefail
BIN=$1
AWS=$2
T=$(mktemp -d)
trap 'kill -TERM $PID 2>/dev/null || true; rm -rf "$T"' EXIT
cat > "$T/cfg.toml" <<CFG
account = "111122223333"
[[access_keys]]
id = "AKIDCLI"
secret = "cli-secret"
principal = "arn:aws:iam::111122223333:root"
CFG
"$BIN" serve --in-memory --listen 127.0.0.1:0 --config "$T/cfg.toml" --port-file "$T/url" --access-log off >/dev/null &
PID=$!
for _ in $(seq 200); do [ -s "$T/url" ] && break; sleep 0.05; done
URL=$(cat "$T/url")
export AWS_ACCESS_KEY_ID=AKIDCLI AWS_SECRET_ACCESS_KEY=cli-secret AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
aws() { "$AWS" --endpoint-url "$URL" "$@"; }
KEY=$(aws kms create-key --description cli --query KeyMetadata.KeyId --output text)
printf 'hello from the cli' > "$T/plain"
aws kms encrypt --key-id "$KEY" --plaintext "fileb://$T/plain" --encryption-context purpose=cli \
  --query CiphertextBlob --output text | base64 -d > "$T/ct"
aws kms decrypt --ciphertext-blob "fileb://$T/ct" --encryption-context purpose=cli \
  --query Plaintext --output text | base64 -d > "$T/out"
cmp "$T/plain" "$T/out"
aws kms list-keys --query 'Keys[].KeyId' --output text | grep -q "$KEY"
# A wrong context is refused with AWS's error.
if aws kms decrypt --ciphertext-blob "fileb://$T/ct" 2> "$T/err"; then
  echo "decrypt without the context succeeded" >&2; exit 1
fi
grep -q InvalidCiphertextException "$T/err"
kill -TERM $PID; wait $PID
echo "aws cli round trip: ok"
