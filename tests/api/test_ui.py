"""Monster UI on its own origin or ours: the app catalogue it opens, apps registered from a UI build
(`sup crossbar_maintenance init_apps`), and a UI build served at / by `cloudpbx serve --ui`."""

from __future__ import annotations

import json
import socket
import subprocess
from types import SimpleNamespace

import httpx
import pytest

from tests.conftest import start_server, stop_server, sup_argv
from tests.helpers import ADMIN_PASSWORD, Client, unique

PUBLIC = "https://pbx.example.test:8443"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
ORIGINAL_CONFIG = b"define(function(require){ return { api: { 'default': 'http://old.example/v2/' }, x: 1 }; });\n"


def sup(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        sup_argv(server, *args),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def ui(server, tmp_path_factory):
    """A second server on the same database, serving a small fake UI build, with a public URL configured."""
    build = tmp_path_factory.mktemp("ui-build")
    (build / "js").mkdir()
    (build / "css").mkdir()
    (build / "index.html").write_text("<!DOCTYPE html><title>Monster</title><script src='js/main.js'></script>")
    (build / "js" / "config.js").write_bytes(ORIGINAL_CONFIG)
    (build / "js" / "main.js").write_text("require(['config'], function () {});")
    (build / "css" / "style.css").write_text("body { color: #123; }")
    (build.parent / "outside.txt").write_text("not part of the build")
    env = {"CLOUDPBX_UI": str(build), "CLOUDPBX_PUBLIC_URL": PUBLIC}
    proc, base = start_server(server[1], server[2], extra_env=env)
    try:
        yield SimpleNamespace(base=base, root=base[: -len("/v2")], build=build)
    finally:
        stop_server(proc)


def raw_get(root: str, target: str) -> tuple[int, bytes]:
    """One request with the target sent byte for byte (clients normalise `..` away)."""
    host, port = root.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_control_center_is_no_app_and_smartpbx_comes_first(master):
    account = master.create_account(master.account_id, unique("Catalogue"))
    apps = master.get(f"accounts/{account['id']}/apps_store").json()["data"]
    names = [app["name"] for app in apps]
    assert "myaccount" not in names, "Control Center is part of the UI core; as an app it opens a blank page"
    assert names[0] == "voip"
    admin = master.admin_of(account["id"])
    login = Client(master.base).login("admin", "pass-word-1", account_realm=account["realm"])
    assert login["data"]["apps"][0]["name"] == "voip" and admin.token


def test_without_a_public_url_apps_carry_no_api_url(master):
    """A relative api_url sends an app's requests to the UI's own origin; without one Monster UI uses api.default."""
    for app in master.get(f"accounts/{master.account_id}/apps_store").json()["data"]:
        assert "api_url" not in app or app["api_url"].startswith(("http://", "https://")), app
    login = Client(master.base).login("admin", ADMIN_PASSWORD, account_name="Master Account")
    assert all("api_url" not in app for app in login["data"]["apps"] if app["name"] == "callflows")


def test_with_a_public_url_apps_get_an_absolute_api_url(ui):
    client = Client(ui.base)
    login = client.login("admin", ADMIN_PASSWORD, account_name="Master Account")
    voip = next(app for app in login["data"]["apps"] if app["name"] == "voip")
    assert voip["api_url"] == f"{PUBLIC}/v2/"
    listed = client.get(f"accounts/{client.account_id}/apps_store").json()["data"]
    assert {app["api_url"] for app in listed if app["name"] in ("voip", "callflows")} == {f"{PUBLIC}/v2/"}


def test_the_build_is_served_at_the_root(ui):
    http = httpx.Client(timeout=10)
    index = http.get(f"{ui.root}/")
    assert index.status_code == 200 and index.text.startswith("<!DOCTYPE html>")
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert index.headers["cache-control"] == "no-cache" and index.headers["etag"]
    css = http.get(f"{ui.root}/css/style.css")
    assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.text == "body { color: #123; }" and css.headers["last-modified"]
    again = http.get(f"{ui.root}/css/style.css", headers={"If-None-Match": css.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    api = http.get(f"{ui.root}/v2/accounts/{'0' * 32}")
    assert api.headers["content-type"] == "application/json" and api.json()["status"] == "error", "/v2 is the API"
    old_api = http.get(f"{ui.root}/v1/accounts")
    assert old_api.status_code == 404 and "please use v2" in old_api.json()["data"]["message"], "/v1 is no UI file"
    missing = http.get(f"{ui.root}/js/nothing.js")
    assert missing.status_code == 404
    posted = http.post(f"{ui.root}/index.html", content=b"x")
    assert posted.status_code == 405 and posted.headers["allow"] == "GET, HEAD"


def test_config_js_points_the_ui_at_this_server_without_touching_the_build(ui):
    http = httpx.Client(timeout=10)
    config = http.get(f"{ui.root}/js/config.js")
    assert config.status_code == 200 and config.headers["content-type"].startswith("application/javascript")
    assert "old.example" not in config.text
    assert json.dumps(["/js/config.build.js"]) in config.text, "the build's own settings are kept"
    assert f"'default': \"{PUBLIC}/v2/\"" in config.text
    original = http.get(f"{ui.root}/js/config.build.js")
    assert original.status_code == 200 and original.content == ORIGINAL_CONFIG
    assert (ui.build / "js" / "config.js").read_bytes() == ORIGINAL_CONFIG


@pytest.mark.parametrize(
    "target",
    [
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/js/..%2F..%2Foutside.txt",
        "/css/%2e%2e/%2e%2e/outside.txt",
        "/.hidden",
        "/js/%00.js",
        "//etc/passwd",
        "/js/%5c..%5c..%5coutside.txt",
    ],
)
def test_no_path_leaves_the_build(ui, target):
    status, body = raw_get(ui.root, target)
    assert status in (400, 404) and b"not part of the build" not in body


def write_app(apps_dir, name: str, label: str, *, icon: bool = True) -> None:
    meta = apps_dir / name / "metadata"
    (meta / "icon").mkdir(parents=True)
    (meta / "screenshots").mkdir()
    if icon:
        (meta / "icon" / f"{name}.png").write_bytes(PNG)
    (meta / "screenshots" / "shot1.png").write_bytes(PNG[::-1])
    (meta / "app.json").write_text(
        json.dumps(
            {
                "name": name,
                "i18n": {"en-US": {"label": label, "description": "A test app"}},
                "tags": ["developer"],
                "icon": f"{name}.png",
                "screenshots": ["shot1.png"],
                "api_url": "http://localhost:8000/v2/",
                "source_url": "http://elsewhere/apps/x",
                "author": "Test",
                "version": "1.0",
                "license": "MPL",
                "price": 0,
            }
        )
    )


def test_init_apps_registers_a_builds_apps_with_their_api_url_and_images(server, master, tmp_path):
    name = f"testapp{id(tmp_path) % 100000}"
    write_app(tmp_path, name, "Test App")
    broken = tmp_path / "broken" / "metadata"
    broken.mkdir(parents=True)
    (broken / "app.json").write_text(json.dumps({"name": "Bad Name!", "i18n": {}}))
    done = sup(server, "crossbar_maintenance", "init_apps", str(tmp_path), "https://api.example.test/v2/")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"registered {name}" in done.stdout and "broken" in done.stdout

    account = master.create_account(master.account_id, unique("Registered"))
    listed = {app["name"]: app for app in master.get(f"accounts/{account['id']}/apps_store").json()["data"]}
    assert "Bad Name!" not in listed
    app = listed[name]
    assert app["api_url"] == "https://api.example.test/v2/" and app["label"] == "Test App"
    assert app["source_url"] == f"apps/{name}", "the UI loads the app from its own build"
    assert app["icon"] == f"{name}.png" and app["allowed_users"] == "all"
    icon = master.get(f"accounts/{account['id']}/apps_store/{app['id']}/icon")
    assert icon.status_code == 200 and icon.content == PNG and icon.headers["content-type"] == "image/png"
    shot = master.get(f"accounts/{account['id']}/apps_store/{app['id']}/screenshot/0")
    assert shot.status_code == 200 and shot.content == PNG[::-1]
    assert master.get(f"accounts/{account['id']}/apps_store/{app['id']}/screenshot/1").status_code == 404
    for below in ("bogus", "screenshot/32", "screenshot/-1", "icon/0"):
        assert master.get(f"accounts/{account['id']}/apps_store/{app['id']}/{below}").status_code == 404, below
    assert master.post(f"accounts/{account['id']}/apps_store/{app['id']}/icon", {}).headers["allow"] == "GET"

    (tmp_path / name / "metadata" / "icon" / f"{name}.png").unlink()
    again = sup(server, "crossbar_maintenance", "init_apps", str(tmp_path))
    assert again.returncode == 0, again.stdout + again.stderr
    refreshed = {a["name"]: a for a in master.get(f"accounts/{account['id']}/apps_store").json()["data"]}[name]
    assert refreshed["id"] == app["id"] and "api_url" not in refreshed, "without a URL the app has none, as in KAZOO"
    assert master.get(f"accounts/{account['id']}/apps_store/{app['id']}/icon").status_code == 404


def test_init_apps_refuses_a_relative_api_url_and_an_empty_folder(server, tmp_path):
    write_app(tmp_path, "relapp", "Rel")
    assert sup(server, "crossbar_maintenance", "init_apps", str(tmp_path), "/v2/").returncode != 0
    assert sup(server, "crossbar_maintenance", "init_apps", str(tmp_path / "none")).returncode != 0
