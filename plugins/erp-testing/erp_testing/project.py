"""How to run Meltano in this project against a given ERP and S3 endpoint (what the
demo, the services command, the end-to-end tests, the benchmarks and the fault matrix
share)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# plugins/erp-testing/erp_testing/project.py: the project is three folders up
# (the package is installed editable, from the checkout it describes).
ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
MELTANO = str(BIN / "meltano")

QUIET_MELTANO = {
    "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
}

# The six streams, in the order people read them.
STREAMS = ("sales_orders", "sales_order_lines", "customers", "vendors", "products", "inventory")


@dataclass(frozen=True)
class Endpoints:
    """Where one run reads from and lands to."""

    erp_url: str  # a tenant's base URL, e.g. http://127.0.0.1:8765/acme
    s3_endpoint_url: str
    bucket: str = "erp-lake"
    prefix: str = "demo"
    client_id: str = "acme"
    access_key_id: str = "local"
    secret_access_key: str = "local"  # the local S3 server takes any key


def meltano_env(ep: Endpoints, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment that points the project's plugins at the given endpoints.

    Plugin setting variables (TAP_ERP_BASE_URL, …) win over everything in meltano.yml,
    so the same environment definitions run against any ports.
    """
    env = dict(os.environ if base is None else base)
    env.update(QUIET_MELTANO)
    env.update(
        {
            "TAP_ERP_BASE_URL": ep.erp_url,
            "TARGET_S3_ENDPOINT_URL": ep.s3_endpoint_url,
            "TARGET_S3_BUCKET": ep.bucket,
            "TARGET_S3_PREFIX": ep.prefix,
            "TARGET_S3_CLIENT_ID": ep.client_id,
            "ERP_QUALITY_ENDPOINT_URL": ep.s3_endpoint_url,
            "ERP_QUALITY_BUCKET": ep.bucket,
            "ERP_QUALITY_PREFIX": ep.prefix,
            "ERP_QUALITY_CLIENT_ID": ep.client_id,
            "AWS_ACCESS_KEY_ID": ep.access_key_id,
            "AWS_SECRET_ACCESS_KEY": ep.secret_access_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "XDG_STATE_HOME": str(ROOT / ".meltano" / "xdg-state"),
        }
    )
    return env


def meltano(
    *args: str, env: dict[str, str], check: bool = True, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a Meltano command in the project root."""
    return subprocess.run(
        [MELTANO, *args],
        cwd=ROOT,
        env=env,
        check=check,
        text=True,
        capture_output=capture,
    )


def state_id(environment: str) -> str:
    """Meltano's state id of `meltano run tap-erp target-s3` in an environment."""
    return f"{environment}:tap-erp-to-target-s3"
