"""Schemathesis over /v2/openapi.json against a server of its own, with a valid token and a real account: no 5xx,
and every response conforms to the document (status, content type, headers, body). Bounded and deterministic: a few
examples per operation, a fixed derandomized seed. Its server has a SQLite database of its own on every run, so the
PostgreSQL run leaves it to the SQLite run."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import start_server, stop_server
from tests.helpers import ADMIN_PASSWORD, Client

EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Operations that would end the run's own session or account rather than test anything: revoking the token in use,
# deleting or moving the account every other request is aimed at.
SELF_DESTRUCTIVE = ["delete_token_auth", "delete_accounts_account_id", "post_accounts_account_id_move"]

pytestmark = pytest.mark.same_on_every_database


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """A server of its own (the run writes garbage), its master token, and an account made for the run."""
    data_dir = tmp_path_factory.mktemp("fuzzed")
    proc, base = start_server(data_dir, f"sqlite:///{data_dir / 'cloudpbx.db'}")  # never the session's database
    master = Client(base)
    master.login("admin", ADMIN_PASSWORD, account_name="Master Account")
    account = master.create_account(master.account_id)["id"]
    yield base, master.token, account
    stop_server(proc)


def test_the_api_conforms_to_its_document(fuzzed):
    base, token, account = fuzzed
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json").exclude(operation_id=SELF_DESTRUCTIVE)
    failures: list[str] = []
    sent = 0
    for found in schema.get_all_operations():
        operation = found.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            pinned = (
                {"account_id": account}
                if mode is GenerationMode.POSITIVE and "{account_id}" in operation.path
                else None
            )
            strategy = operation.as_strategy(mode, path_parameters=pinned)

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                nonlocal sent
                sent += 1
                try:
                    case.call_and_validate(base_url=base, headers={"X-Auth-Token": token}, checks=CHECKS)
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together below
                    label = f"{mode.value} {case.method} {case.formatted_path}"  # noqa: B023 - run() runs in this loop
                    failures.append(f"{label}: {str(exc)[:600]}")

            try:
                run()
            except Unsatisfiable:  # nothing in this operation can be made invalid (no arguments, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert sent > 500
    assert not failures, f"{len(failures)} failures:\n" + "\n\n".join(failures[:40])
