# Sourced by the other scripts: the helpers every one of them needs, once.
#   as_root CMD...      run CMD as root (sudo when not root already)
#   apt_install PKG...  install Debian packages (updating the index only when
#                       the first try fails), quietly
# and the pinned versions of every tool the scripts install (one place).

# Pinned versions (Cargo pins live in the Cargo.toml files: the
# workspace's [workspace.dependencies]).
ESDK_PY_VERSION="4.0.7" # aws-encryption-sdk (Python): interop peer and benchmark peer
MPL_PY_VERSION="1.11.3" # aws-cryptographic-material-providers (Python): interop peer for MPL-only keyrings and CMMs
AWSCLI_VERSION="1.46.3" # awscli (PyPI, v1): the CLI's --output json is compared with it
BOTO3_VERSION="1.44.3"  # boto3 for the endpoint tests: the botocore awscli pins (KMS model with ML-KEM)
NPM_TOOLS=(binaryen@132.0.0 typescript@5.9.3 playwright-core@1.65.1 esbuild@0.28.2)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  as_root apt-get install -y -qq "$@" >/dev/null 2>&1 || {
    as_root apt-get update -qq >&2 && as_root apt-get install -y -qq "$@" >&2
  }
}
