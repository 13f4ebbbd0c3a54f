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
