import os
import pathlib

import pytest

REPO = pathlib.Path(os.environ.get("STRONGROOM_REPO", pathlib.Path(__file__).resolve().parents[2]))
VECTORS = REPO / "tests" / "vectors"
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture
def kms():
    import strongroom

    return strongroom.Kms.in_memory()


# The test build of the native module (scripts/py-test.sh: cargo feature
# dangerous-test-rng, never in a package) sets STRONGROOM_TEST_BUILD=1.
TEST_BUILD = os.environ.get("STRONGROOM_TEST_BUILD") == "1"


def requires_test_rng(f):
    """Tests that replay seeded vectors. Under the test build they must run
    (and fail if the RNG is missing); against a package, which never has the
    deterministic RNG, they are skipped with this reason."""
    if TEST_BUILD:
        return f
    from strongroom import _native

    return pytest.mark.skipif(
        not hasattr(_native.NativeKms, "deterministic"),
        reason="needs the test-only build with the deterministic RNG (scripts/py-test.sh runs it)",
    )(f)
