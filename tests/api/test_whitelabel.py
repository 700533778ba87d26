"""Whitelabel: the branding document, its files, and the public lookup by domain that the portal does before login."""

from __future__ import annotations

import base64
import itertools

import pytest

from tests.helpers import Client, unique

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
_domains = itertools.count(1)


def domain() -> str:
    return f"portal{next(_domains)}-{id(object()) % 100000}.example.com"


def upload(client: Client, path: str, content: bytes, content_type: str):
    return client.http.post(
        f"{client.base}/{path}", content=content, headers={"X-Auth-Token": client.token, "Content-Type": content_type}
    )


@pytest.fixture(scope="module")
def tenants(master):
    a = master.create_account(master.account_id, unique("Brand A"))
    b = master.create_account(master.account_id, unique("Brand B"))
    return a, master.admin_of(a["id"]), b, master.admin_of(b["id"])


@pytest.fixture()
def branded(tenants):
    """Account A with a whitelabel document; removed again afterwards."""
    a, a_admin, _, _ = tenants
    name = domain()
    resp = a_admin.put(f"accounts/{a['id']}/whitelabel", {"domain": name, "company_name": "Acme Voice"})
    assert resp.status_code == 201, resp.text
    yield name
    a_admin.delete(f"accounts/{a['id']}/whitelabel")


def test_create_read_replace_and_delete(tenants):
    a, a_admin, _, _ = tenants
    path = f"accounts/{a['id']}/whitelabel"
    assert a_admin.get(path).status_code == 404
    name = domain()
    created = a_admin.put(path, {"domain": name, "company_name": "Acme", "ui_metadata": {"origin": "branding"}})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["domain"] == name and created.json()["data"]["hide_powered"] is False
    assert a_admin.put(path, {"domain": domain()}).status_code == 409
    replaced = a_admin.post(path, {"domain": name, "company_name": "Acme Two", "hide_powered": True})
    assert replaced.status_code == 200
    data = a_admin.get(path).json()["data"]
    assert data["company_name"] == "Acme Two" and data["hide_powered"] is True and "ui_metadata" not in data
    deleted = a_admin.delete(path)
    assert deleted.status_code == 200 and deleted.json()["data"]["_read_only"] == {"deleted": True}
    assert a_admin.get(path).status_code == 404
    assert a_admin.put(path, {"domain": name}).status_code == 201, "a deleted whitelabel can be created again"
    a_admin.delete(path)


def test_the_domain_lookup_is_public_even_with_an_undefined_token(tenants, branded, server):
    anonymous = Client(server[0])
    for headers in ({}, {"X-Auth-Token": "undefined"}, {"X-Auth-Token": "not-a-token"}):
        resp = anonymous.get(f"whitelabel/{branded.upper()}", headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"]["company_name"] == "Acme Voice"
    unknown = anonymous.get("whitelabel/nobody.example.com", headers={"X-Auth-Token": "undefined"})
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "bad_identifier" and unknown.json()["error"] == "404"
    assert anonymous.get(f"whitelabel/{branded}/logo", headers={"X-Auth-Token": "undefined"}).status_code == 404
    refused = anonymous.put(f"whitelabel/{branded}", {"company_name": "Hijack"})
    assert refused.status_code == 405 and refused.headers["allow"] == "GET", "the public shape is read-only"
    assert anonymous.get(f"accounts/{tenants[0]['id']}/whitelabel").status_code == 401


def test_domains_are_unique_across_the_platform(tenants, branded):
    _, _, b, b_admin = tenants
    path = f"accounts/{b['id']}/whitelabel"
    clash = b_admin.put(path, {"domain": branded.upper(), "company_name": "Copycat"})
    assert clash.status_code == 400
    assert clash.json()["message"] == "validation error"
    assert clash.json()["data"]["domain"]["unique"]["message"] == "White label domain is already in use"
    assert b_admin.get(path).status_code == 404
    assert b_admin.put(path, {"domain": domain()}).status_code == 201
    assert b_admin.post(path, {"domain": branded}).status_code == 400
    assert b_admin.get(path).json()["data"]["domain"] != branded
    b_admin.delete(path)


def test_invalid_data_changes_nothing(tenants, branded):
    a, a_admin, _, _ = tenants
    path = f"accounts/{a['id']}/whitelabel"
    before = a_admin.get(path).json()
    bad = a_admin.post(path, {"domain": branded, "hide_powered": "sometimes", "port": {"support_email": "nope"}})
    assert bad.status_code == 400
    assert set(bad.json()["data"]) == {"hide_powered", "port.support_email"}
    after = a_admin.get(path).json()
    assert (after["data"], after["revision"]) == (before["data"], before["revision"])


def test_logo_icon_and_welcome_upload_and_download(tenants, branded, server):
    a, a_admin, _, _ = tenants
    base = f"accounts/{a['id']}/whitelabel"
    revision = a_admin.get(base).json()["revision"]
    stored = upload(a_admin, f"{base}/logo", PNG, "image/png")
    assert stored.status_code == 200, stored.text
    assert stored.json()["revision"] != revision
    logo = a_admin.get(f"{base}/logo")
    assert logo.status_code == 200 and logo.content == PNG and logo.headers["content-type"] == "image/png"
    public = Client(server[0]).get(f"whitelabel/{branded}/logo", headers={"X-Auth-Token": "undefined"})
    assert public.status_code == 200 and public.content == PNG

    icon = b"\x00\x00\x01\x00icon-bytes"
    data_url = b"data:image/x-icon;base64," + base64.b64encode(icon)
    assert upload(a_admin, f"{base}/icon", data_url, "application/x-base64").status_code == 200
    fetched = Client(server[0]).get(f"whitelabel/{branded}/icon")
    assert fetched.content == icon and fetched.headers["content-type"] == "image/x-icon"

    html = b"<h1>Welcome to Acme</h1>"
    form = a_admin.http.post(
        f"{a_admin.base}/{base}/welcome",
        headers={"X-Auth-Token": a_admin.token},
        files={"file": ("welcome.html", html, "text/html")},
    )
    assert form.status_code == 200, form.text
    assert a_admin.get(f"{base}/welcome").content == html


def test_bad_uploads_are_refused_and_change_nothing(tenants, branded):
    a, a_admin, _, _ = tenants
    base = f"accounts/{a['id']}/whitelabel"
    assert upload(a_admin, f"{base}/logo", PNG, "image/png").status_code == 200
    revision = a_admin.get(base).json()["revision"]
    wrong_type = upload(a_admin, f"{base}/logo", b"ID3 not an image", "audio/mpeg")
    assert wrong_type.status_code == 415 and wrong_type.json()["status"] == "error"
    missing = a_admin.post(f"{base}/logo", {"file": "none"})
    assert missing.status_code == 400 and "required" in missing.json()["data"]["file"]
    garbled = upload(a_admin, f"{base}/logo", b"data:image/png;base64,@@@not base64@@@", "application/x-base64")
    assert garbled.status_code == 400 and "invalid" in garbled.json()["data"]["file"]
    wrong_part = a_admin.http.post(
        f"{a_admin.base}/{base}/logo",
        headers={"X-Auth-Token": a_admin.token},
        files={"file": ("notes.txt", b"plain text", "text/plain")},
    )
    assert wrong_part.status_code == 400 and "enum" in wrong_part.json()["data"]["file"]
    assert a_admin.get(f"{base}/logo").content == PNG
    assert a_admin.get(base).json()["revision"] == revision
    assert a_admin.get(f"{base}/banner").status_code == 404


def test_files_need_the_whitelabel_document_and_go_with_it(tenants, server):
    a, a_admin, _, _ = tenants
    base = f"accounts/{a['id']}/whitelabel"
    assert upload(a_admin, f"{base}/logo", PNG, "image/png").status_code == 404
    name = domain()
    assert a_admin.put(base, {"domain": name}).status_code == 201
    assert upload(a_admin, f"{base}/logo", PNG, "image/png").status_code == 200
    assert a_admin.delete(base).status_code == 200
    assert Client(server[0]).get(f"whitelabel/{name}").status_code == 404
    assert Client(server[0]).get(f"whitelabel/{name}/logo").status_code == 404
    assert a_admin.put(base, {"domain": name}).status_code == 201
    assert a_admin.get(f"{base}/logo").status_code == 404, "the old logo was removed with the document"
    a_admin.delete(base)


def test_a_sibling_can_neither_read_nor_change_it(tenants, branded):
    a, a_admin, _, b_admin = tenants
    base = f"accounts/{a['id']}/whitelabel"
    assert upload(a_admin, f"{base}/logo", PNG, "image/png").status_code == 200
    before = a_admin.get(base).json()
    for resp in (
        b_admin.get(base),
        b_admin.put(base, {"domain": domain()}),
        b_admin.post(base, {"domain": "x.y"}),
        b_admin.delete(base),
        b_admin.get(f"{base}/logo"),
        upload(b_admin, f"{base}/logo", b"GIF89a", "image/gif"),
    ):
        assert resp.status_code == 403, resp.text
        assert "Acme" not in resp.text
    after = a_admin.get(base).json()
    assert (after["data"], after["revision"]) == (before["data"], before["revision"])
    assert a_admin.get(f"{base}/logo").content == PNG


def test_users_read_the_branding_but_only_admins_change_it(master, tenants, branded):
    a, a_admin, _, _ = tenants
    a_admin.create(
        a["id"],
        "users",
        {"first_name": "Plain", "last_name": "User", "username": "plain-wl", "password": "plain-pass-1"},
    )
    user = Client(master.base)
    user.login("plain-wl", "plain-pass-1", account_realm=master.get(f"accounts/{a['id']}").json()["data"]["realm"])
    base = f"accounts/{a['id']}/whitelabel"
    assert user.get(base).json()["data"]["company_name"] == "Acme Voice"
    assert user.post(base, {"domain": branded, "company_name": "Mine"}).status_code == 403
    assert upload(user, f"{base}/logo", PNG, "image/png").status_code == 403
    assert a_admin.get(base).json()["data"]["company_name"] == "Acme Voice"
