"""Where the channel contracts live: ../shared/contracts beside the repository, or
$CONTRACTS_DIR. Tests read the official schemas, samples and test vectors from there."""

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def _find() -> Path:
    candidates = [
        os.environ.get("CONTRACTS_DIR", ""),
        str(_REPO.parent / "shared" / "contracts"),
        "/work/shared/contracts",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "shopify").is_dir():
            return Path(candidate)
    raise RuntimeError(
        "The channel contracts folder was not found: set CONTRACTS_DIR to …/shared/contracts"
    )


CONTRACTS = _find()
SHOPIFY = CONTRACTS / "shopify"
AMAZON = CONTRACTS / "amazon"
