import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
FIXTURES = SHARED / "fixtures"


def fixture_path(*parts) -> Path:
    """A file under ../shared/fixtures, or skip the test saying what is missing."""
    p = FIXTURES.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"fixture {p} is absent (../shared/fixtures is not beside this checkout)")
    return p
