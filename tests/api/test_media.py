"""Media: prompt documents and their audio, uploaded three ways, downloaded whole or by byte range, size-capped."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest

from tests.helpers import Client, unique

MAX_BYTES = 11534336
MP3 = b"ID3\x03\x00" + bytes(range(256)) * 16


@pytest.fixture(scope="module")
def world(master):
    a = master.create_account(master.account_id, unique("Media A"))
    b = master.create_account(master.account_id, unique("Media B"))
    return SimpleNamespace(a=a, b=b, a_admin=master.admin_of(a["id"]), b_admin=master.admin_of(b["id"]))


def upload(client: Client, path: str, content: bytes, content_type: str):
    return client.http.post(
        f"{client.base}/{path}", content=content, headers={"X-Auth-Token": client.token, "Content-Type": content_type}
    )


def new_media(client: Client, account_id: str, **fields) -> str:
    return client.create(account_id, "media", {"name": unique("Prompt"), "media_source": "upload", **fields})["id"]


def test_upload_then_download_the_audio(world):
    media_id = new_media(world.a_admin, world.a["id"], content_type="audio/ogg", content_length=5)
    base = f"accounts/{world.a['id']}/media/{media_id}"
    fresh = world.a_admin.get(base).json()["data"]
    assert "content_type" not in fresh and "content_length" not in fresh, "only an upload describes the file"
    assert world.a_admin.get(f"{base}/raw").status_code == 404
    stored = upload(world.a_admin, f"{base}/raw", MP3, "audio/mpeg")
    assert stored.status_code == 200, stored.text
    data = world.a_admin.get(base).json()["data"]
    assert (data["content_type"], data["content_length"], data["media_source"]) == ("audio/mpeg", len(MP3), "upload")
    raw = world.a_admin.get(f"{base}/raw")
    assert raw.status_code == 200 and raw.content == MP3
    assert raw.headers["content-type"] == "audio/mpeg" and raw.headers["access-control-allow-origin"] == "*"
    assert media_id in raw.headers["content-disposition"]


def test_ranges_of_the_audio(world):
    media_id = new_media(world.a_admin, world.a["id"])
    raw = f"accounts/{world.a['id']}/media/{media_id}/raw"
    assert upload(world.a_admin, raw, MP3, "audio/mpeg").status_code == 200
    size = len(MP3)
    cases = {
        "bytes=2-5": (2, 5),
        "bytes=4000-": (4000, size - 1),
        "bytes=-3": (size - 3, size - 1),
        f"bytes=10-{size + 50}": (10, size - 1),
    }
    for header, (first, last) in cases.items():
        part = world.a_admin.get(raw, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == MP3[first : last + 1]
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
    beyond = world.a_admin.get(raw, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert world.a_admin.get(raw, headers={"Range": "bytes=0-1,4-5"}).content == MP3, "several ranges: all of it"


def test_multipart_and_base64_uploads(world):
    media_id = new_media(world.a_admin, world.a["id"])
    raw = f"accounts/{world.a['id']}/media/{media_id}/raw"
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64)
    form = world.a_admin.http.post(
        f"{world.a_admin.base}/{raw}",
        headers={"X-Auth-Token": world.a_admin.token},
        files={"file": ("hello.wav", wav, "application/octet-stream")},
    )
    assert form.status_code == 200, form.text
    assert form.json()["data"]["content_type"] == "audio/x-wav" and form.json()["data"]["content_length"] == len(wav)
    assert world.a_admin.get(raw).content == wav
    data_url = b"data:audio/ogg;base64," + base64.b64encode(b"OggS" + bytes(32))
    assert upload(world.a_admin, raw, data_url, "application/x-base64").status_code == 200
    fetched = world.a_admin.get(raw)
    assert fetched.content == b"OggS" + bytes(32) and fetched.headers["content-type"] == "audio/ogg"


def test_too_large_uploads_get_413_and_change_nothing(world):
    media_id = new_media(world.a_admin, world.a["id"])
    base = f"accounts/{world.a['id']}/media/{media_id}"
    assert upload(world.a_admin, f"{base}/raw", MP3, "audio/mpeg").status_code == 200
    before = world.a_admin.get(base).json()
    for size in (MAX_BYTES + 1, 16 * 1024 * 1024):
        resp = upload(world.a_admin, f"{base}/raw", b"\xff" * size, "audio/mpeg")
        assert resp.status_code == 413, size
        body = resp.json()
        assert (body["status"], body["error"], body["message"]) == ("error", "413", "request_entity_too_large")
    after = world.a_admin.get(base).json()
    assert (after["data"], after["revision"]) == (before["data"], before["revision"])
    assert world.a_admin.get(f"{base}/raw").content == MP3
    biggest = upload(world.a_admin, f"{base}/raw", b"\xff" * MAX_BYTES, "audio/mpeg")
    assert biggest.status_code == 200 and biggest.json()["data"]["content_length"] == MAX_BYTES


def test_bad_uploads_are_refused_and_change_nothing(world):
    media_id = new_media(world.a_admin, world.a["id"])
    base = f"accounts/{world.a['id']}/media/{media_id}"
    assert upload(world.a_admin, f"{base}/raw", MP3, "audio/mpeg").status_code == 200
    revision = world.a_admin.get(base).json()["revision"]
    assert upload(world.a_admin, f"{base}/raw", b"\x89PNG", "image/png").status_code == 415
    text_part = world.a_admin.http.post(
        f"{world.a_admin.base}/{base}/raw",
        headers={"X-Auth-Token": world.a_admin.token},
        files={"file": ("notes.txt", b"words", "text/plain")},
    )
    assert text_part.status_code == 400 and "enum" in text_part.json()["data"]["file"]
    two_files = world.a_admin.http.post(
        f"{world.a_admin.base}/{base}/raw",
        headers={"X-Auth-Token": world.a_admin.token},
        files=[("a", ("a.mp3", MP3, "audio/mpeg")), ("b", ("b.mp3", MP3, "audio/mpeg"))],
    )
    assert two_files.status_code == 400 and "maxItems" in two_files.json()["data"]["file"]
    no_file = world.a_admin.post(f"{base}/raw", {"name": "not a file"})
    assert no_file.status_code == 400 and "required" in no_file.json()["data"]["file"]
    assert upload(world.a_admin, f"{base}/raw", b"", "audio/mpeg").status_code == 400
    assert world.a_admin.get(base).json()["revision"] == revision
    assert world.a_admin.get(f"{base}/raw").content == MP3
    assert upload(world.a_admin, f"accounts/{world.a['id']}/media/{'e' * 32}/raw", MP3, "audio/mpeg").status_code == 404


def test_the_file_fields_follow_the_file_not_the_client(world):
    media_id = new_media(world.a_admin, world.a["id"])
    base = f"accounts/{world.a['id']}/media/{media_id}"
    assert upload(world.a_admin, f"{base}/raw", MP3, "audio/mpeg").status_code == 200
    doc = world.a_admin.get(base).json()["data"]
    replaced = world.a_admin.post(base, {**doc, "name": "Renamed", "content_type": "audio/ogg", "content_length": 3})
    assert replaced.status_code == 200
    data = replaced.json()["data"]
    assert (data["name"], data["content_type"], data["content_length"]) == ("Renamed", "audio/mpeg", len(MP3))
    patched = world.a_admin.patch(base, {"content_type": None, "description": "hello"})
    assert patched.json()["data"]["content_type"] == "audio/mpeg"
    invalid = world.a_admin.post(base, {"name": "", "media_source": "upload"})
    assert invalid.status_code == 400 and "minLength" in invalid.json()["data"]["name"]


def test_deleting_the_media_removes_its_audio(world):
    media_id = new_media(world.a_admin, world.a["id"])
    base = f"accounts/{world.a['id']}/media/{media_id}"
    assert upload(world.a_admin, f"{base}/raw", MP3, "audio/mpeg").status_code == 200
    assert world.a_admin.delete(base).status_code == 200
    assert world.a_admin.get(f"{base}/raw").status_code == 404
    assert upload(world.a_admin, f"{base}/raw", MP3, "audio/mpeg").status_code == 404


def test_a_sibling_can_neither_read_nor_change_the_audio(world):
    media_id = new_media(world.a_admin, world.a["id"])
    base = f"accounts/{world.a['id']}/media/{media_id}"
    assert upload(world.a_admin, f"{base}/raw", MP3, "audio/mpeg").status_code == 200
    before = world.a_admin.get(base).json()
    for resp in (
        world.b_admin.get(f"{base}/raw"),
        upload(world.b_admin, f"{base}/raw", b"ID3evil", "audio/mpeg"),
        world.b_admin.get(base),
        world.b_admin.delete(base),
    ):
        assert resp.status_code == 403, resp.text
    assert world.b_admin.get(f"accounts/{world.b['id']}/media/{media_id}/raw").status_code == 404
    after = world.a_admin.get(base).json()
    assert (after["data"], after["revision"]) == (before["data"], before["revision"])
    assert world.a_admin.get(f"{base}/raw").content == MP3
