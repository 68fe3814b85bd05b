"""Client environments, their ERP host and schedules, read from a Meltano project."""

from __future__ import annotations

from pathlib import Path

import pytest
from erp_orchestration.meltano_project import client_environments

CLIENT_FILE = """
environments:
  - name: {name}
    env:
      OWN_URL: http://own.example:8000
    config:
      plugins:
        extractors:
          - name: tap-erp
            config:
              base_url: {base_url}
schedules:
  - name: {name}-nightly
    job: erp-to-s3
    interval: "0 2 * * *"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "clients").mkdir()
    for name, base_url in [
        ("acme", "$ACME_ERP_BASE_URL"),  # from .env or the process
        ("demo", "${OWN_URL}/acme"),  # from the environment's own env
        ("plain", "https://ERP.Plain.example/api"),
    ]:
        text = CLIENT_FILE.format(name=name, base_url=base_url)
        (tmp_path / "clients" / f"{name}.meltano.yml").write_text(text)
    (tmp_path / ".env").write_text("ACME_ERP_BASE_URL=http://dotenv.example:8765/acme\n")
    return tmp_path


@pytest.mark.parametrize(
    ("process_env", "hosts"),
    [
        (
            {},
            {
                "acme": "dotenv.example:8765",
                "demo": "own.example:8000",
                "plain": "erp.plain.example",
            },
        ),
        ({"ACME_ERP_BASE_URL": "http://proc.example/acme"}, {"acme": "proc.example"}),
        (
            {"TAP_ERP_BASE_URL": "http://all.example/x"},
            {"demo": "all.example", "plain": "all.example"},
        ),
    ],
)
def test_the_erp_host_resolves_as_a_run_would(project, process_env, hosts):
    found = {c.name: c.erp_host for c in client_environments(project, process_env)}
    assert {name: found[name] for name in hosts} == hosts


def test_schedules_belong_to_their_client(project):
    (acme,) = client_environments(project, {}, only=["acme"])
    assert [(s.name, s.job, s.interval) for s in acme.schedules] == [
        ("acme-nightly", "erp-to-s3", "0 2 * * *")
    ]


def test_an_unknown_client_is_named_in_one_line(project):
    with pytest.raises(
        ValueError,
        match=r"^ERP_ORCHESTRATION_CLIENTS: unknown environment\(s\) nobody; "
        r"known: acme, demo, plain$",
    ):
        client_environments(project, {}, only=["acme", "nobody"])
