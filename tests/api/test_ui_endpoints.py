"""Endpoints SmartPBX and the launcher call that answered 404: multi_factor and security (Users view), account
configs (Add Device), ledgers/total (balance); each asked as the UI asks and read as its code reads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.helpers import Client, unique

UI = {"ui_metadata": {"version": "4.3", "ui": "monster-ui", "origin": "voip"}}


@pytest.fixture(scope="module")
def world(master):
    r = master.create_account(master.account_id, unique("UI Reseller"))
    assert master.put(f"accounts/{r['id']}/reseller").status_code == 200
    c = master.create_account(r["id"], unique("UI Customer"))
    x = master.create_account(master.account_id, unique("UI Stranger"))
    return SimpleNamespace(
        r=r,
        c=c,
        x=x,
        r_admin=master.admin_of(r["id"]),
        c_admin=master.admin_of(c["id"]),
        x_admin=master.admin_of(x["id"]),
    )


def ui_get(client: Client, path: str):
    return client.get(path, params={"_": "1700000000000"})


def test_users_view_reads_multi_factor_and_security(world):
    c = world.c["id"]
    mfa = ui_get(world.c_admin, f"accounts/{c}/multi_factor")
    assert mfa.status_code == 200, mfa.text
    data = mfa.json()["data"]
    assert data["configured"] == [] and isinstance(data["multi_factor_providers"], list)
    sec = ui_get(world.c_admin, f"accounts/{c}/security")
    assert sec.status_code == 200, sec.text
    body = sec.json()["data"]
    assert body["account"] == {}
    assert body["inherited_config"]["auth_modules"]["cb_user_auth"]["enabled"] is True


def test_a_provider_configuration_and_its_use_by_a_login_method(world):
    c, admin = world.c["id"], world.c_admin
    created = admin.put(
        f"accounts/{c}/multi_factor",
        {"name": "Our OTP", "enabled": True, "provider_name": "otp", "settings": {"issuer": "Acme"}, **UI},
    )
    assert created.status_code == 201, created.text
    config_id = created.json()["data"]["id"]
    listed = ui_get(admin, f"accounts/{c}/multi_factor").json()["data"]["configured"]
    assert listed == [
        {"id": config_id, "enabled": True, "name": "Our OTP", "provider_name": "otp", "provider_type": "multi_factor"}
    ]
    patched = admin.patch(f"accounts/{c}/multi_factor/{config_id}", {"enabled": False})
    assert patched.status_code == 200 and patched.json()["data"]["enabled"] is False
    assert patched.json()["data"]["settings"] == {"issuer": "Acme"}
    bad = admin.post(f"accounts/{c}/multi_factor/{config_id}", {"name": "x", "enabled": "yes", "provider_name": "sms"})
    assert bad.status_code == 400 and {"enabled", "provider_name"} <= set(bad.json()["data"])
    assert admin.get(f"accounts/{c}/multi_factor/{config_id}").json()["data"]["name"] == "Our OTP"

    mf = {"enabled": True, "configuration_id": config_id, "account_id": c}
    saved = admin.post(f"accounts/{c}/security", {"auth_modules": {"cb_user_auth": {"multi_factor": mf}}, **UI})
    assert saved.status_code == 200, saved.text
    assert saved.json()["data"]["auth_modules"]["cb_user_auth"]["multi_factor"]["_read_only"] == {
        "name": "Our OTP",
        "provider_name": "otp",
    }
    account = ui_get(admin, f"accounts/{c}/security").json()["data"]["account"]
    otp = account["auth_modules"]["cb_user_auth"]["multi_factor"]
    assert otp["enabled"] is True and otp["configuration_id"] == config_id
    patched = admin.patch(f"accounts/{c}/security", {"auth_modules": {"cb_api_auth": {"enabled": False}}})
    modules = patched.json()["data"]["auth_modules"]
    assert modules["cb_api_auth"] == {"enabled": False} and modules["cb_user_auth"]["multi_factor"]["enabled"]
    assert admin.delete(f"accounts/{c}/multi_factor/{config_id}").status_code == 200
    assert admin.get(f"accounts/{c}/multi_factor/{config_id}").status_code == 404
    removed = admin.delete(f"accounts/{c}/security")
    assert removed.status_code == 200 and ui_get(admin, f"accounts/{c}/security").json()["data"]["account"] == {}
    assert admin.delete(f"accounts/{c}/security").status_code == 404


def test_security_is_inherited_from_the_reseller_and_validated(world):
    r, c = world.r["id"], world.c["id"]
    assert (
        world.r_admin.post(
            f"accounts/{r}/security", {"auth_modules": {"cb_user_auth": {"token_auth_expiry_s": 7200}}}
        ).status_code
        == 200
    )
    inherited = ui_get(world.c_admin, f"accounts/{c}/security").json()["data"]["inherited_config"]["auth_modules"]
    assert inherited["cb_user_auth"]["token_auth_expiry_s"] == 7200 and inherited["cb_auth"]["enabled"] is True
    for bad in (
        {"auth_modules": {"cb_user_auth": {"token_auth_expiry_s": "long"}}},
        {"auth_modules": {"cb_nothing": {"enabled": True}}},
        {"auth_modules": []},
    ):
        resp = world.c_admin.post(f"accounts/{c}/security", bad)
        assert resp.status_code == 400, resp.text
    assert ui_get(world.c_admin, f"accounts/{c}/security").json()["data"]["account"] == {}
    assert world.c_admin.get("security").json()["data"]["available_auth_modules"] == [
        "cb_api_auth",
        "cb_auth",
        "cb_ip_auth",
        "cb_user_auth",
    ]
    assert world.c_admin.post("security", {"auth_modules": {}}).status_code == 405


def test_no_tenant_reaches_anothers_multi_factor_or_security(world):
    c, x = world.c["id"], world.x["id"]
    theirs = world.x_admin.put(
        f"accounts/{x}/multi_factor", {"name": "Theirs", "enabled": True, "provider_name": "duo"}
    ).json()["data"]["id"]
    for method, path in (
        ("GET", f"accounts/{x}/multi_factor"),
        ("GET", f"accounts/{x}/multi_factor/{theirs}"),
        ("DELETE", f"accounts/{x}/multi_factor/{theirs}"),
        ("GET", f"accounts/{x}/security"),
        ("POST", f"accounts/{x}/security"),
        ("GET", f"accounts/{x}/configs/kazoo_endpoint"),
        ("GET", f"accounts/{x}/ledgers/total"),
    ):
        resp = world.c_admin.request(method, path, {"auth_modules": {}})
        assert resp.status_code == 403, (method, path, resp.text)
    assert world.c_admin.get(f"accounts/{c}/multi_factor/{theirs}").status_code == 404
    borrowed = {"enabled": True, "configuration_id": theirs, "account_id": x}
    resp = world.c_admin.post(f"accounts/{c}/security", {"auth_modules": {"cb_user_auth": {"multi_factor": borrowed}}})
    assert resp.status_code == 400 and "auth_modules.cb_user_auth.multi_factor.account_id" in resp.json()["data"]
    assert world.c_admin.get("multi_factor").status_code == 403, "system providers are for system administrators"


def test_system_providers_are_listed_to_accounts(master, world):
    made = master.put("multi_factor", {"name": "Platform OTP", "enabled": True, "provider_name": "otp"})
    assert made.status_code == 201, made.text
    provider_id = made.json()["data"]["id"]
    try:
        providers = ui_get(world.c_admin, f"accounts/{world.c['id']}/multi_factor").json()["data"]
        otp = [p for p in providers["multi_factor_providers"] if p["provider_name"] == "otp" and p["enabled"]]
        assert otp and otp[0]["id"] == provider_id and "settings" not in otp[0]
        assert any(p["id"] == provider_id for p in master.get("multi_factor").json()["data"])
    finally:
        assert master.delete(f"multi_factor/{provider_id}").status_code == 200


def test_add_device_reads_kazoo_endpoint_configs(master, world):
    c, r = world.c["id"], world.r["id"]
    got = ui_get(world.c_admin, f"accounts/{c}/configs/kazoo_endpoint")
    assert got.status_code == 200, got.text
    assert got.json()["data"]["ignore_completed_elsewhere"] is True
    assert got.json()["data"]["id"] == "configs_kazoo_endpoint"

    assert (
        world.r_admin.post(f"accounts/{r}/configs/kazoo_endpoint", {"ignore_completed_elsewhere": False}).status_code
        == 200
    )
    assert (
        ui_get(world.c_admin, f"accounts/{c}/configs/kazoo_endpoint").json()["data"]["ignore_completed_elsewhere"]
        is False
    ), "a reseller's settings reach its customers"
    changed = world.c_admin.patch(f"accounts/{c}/configs/kazoo_endpoint", {"default_can_text_self": False, **UI})
    assert changed.status_code == 200
    assert changed.json()["data"] == {
        "default_can_text_self": False,
        "ignore_completed_elsewhere": False,
        "id": "configs_kazoo_endpoint",
        **UI,
    }
    bad = world.c_admin.post(f"accounts/{c}/configs/kazoo_endpoint", {"default_can_text_self": "no"})
    assert bad.status_code == 400
    assert (
        ui_get(world.c_admin, f"accounts/{c}/configs/kazoo_endpoint").json()["data"]["default_can_text_self"] is False
    )
    reset = world.c_admin.delete(f"accounts/{c}/configs/kazoo_endpoint")
    assert reset.status_code == 200 and reset.json()["data"]["default_can_text_self"] is True
    assert world.r_admin.delete(f"accounts/{r}/configs/kazoo_endpoint").status_code == 200
    assert world.c_admin.put(f"accounts/{c}/configs/no_such_category", {"a": 1}).status_code == 400
    for outside in ("bad%20name", "a%2Fb", "x" * 121):  # configs_{category} must fit the id grammar
        assert world.c_admin.get(f"accounts/{c}/configs/{outside}").status_code == 404
    assert world.c_admin.get(f"accounts/{c}/configs").status_code == 404


def test_configs_merge_over_the_system_default(master, world):
    system = master.put("system_configs/kazoo_endpoint", {"default": {"ignore_completed_elsewhere": False}})
    assert system.status_code in (200, 201), system.text
    try:
        got = ui_get(world.c_admin, f"accounts/{world.c['id']}/configs/kazoo_endpoint").json()["data"]
        assert got["ignore_completed_elsewhere"] is False and got["default_can_text_self"] is True
    finally:
        assert master.delete("system_configs/kazoo_endpoint").status_code == 200


def test_the_balance_is_read_from_the_ledgers(world):
    resp = ui_get(world.c_admin, f"accounts/{world.c['id']}/ledgers/total")
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == {"amount": 0}
    assert world.c_admin.get(f"accounts/{world.c['id']}/ledgers").json()["data"] == {}, "no entries this month"
    assert world.c_admin.put(f"accounts/{world.c['id']}/ledgers/total").status_code == 405


def test_the_ui_endpoints_serve_only_their_declared_shapes(master, world):
    c, admin = world.c["id"], world.c_admin
    assert ui_get(admin, f"accounts/{c}/multi_factor/attempts").json()["data"] == []
    assert admin.get(f"accounts/{c}/multi_factor/attempts/{'0' * 32}").status_code == 404
    for method, path, allow in (
        ("PUT", f"accounts/{c}/multi_factor/attempts", "GET"),
        ("PUT", f"accounts/{c}/security", "DELETE, GET, PATCH, POST"),
        ("POST", f"accounts/{c}/ledgers/total", "GET"),
        ("POST", "multi_factor", "GET, PUT"),
    ):
        resp = admin.request(method, path, {})
        assert resp.status_code == 405 and resp.headers["allow"] == allow, (method, path, resp.text)
    for path in (
        f"accounts/{c}/multi_factor/not-an-id",
        f"accounts/{c}/security/x",
        "ledgers/total",
        f"multi_factor/attempts/{'0' * 32}",
        f"accounts/{c}/configs/a/b",
    ):
        assert admin.get(path).status_code == 404, path
    spec = master.get("openapi.json").json()["paths"]
    assert (
        spec["/accounts/{account_id}/configs/{category}"]["get"]["parameters"][1]["schema"]["pattern"]
        == "^[A-Za-z0-9_.+%:@-]{1,120}$"
    )
