"""The first thing a new operator does: log in, create a sub-account with a user and a device, list them."""


def test_login_and_build_a_tenant(master):
    sub = master.create_account(master.account_id)
    user = master.create(
        sub["id"], "users", {"first_name": "Bob", "last_name": "Bee", "username": "bob", "password": "bob-pass-1"}
    )
    device = master.create(
        sub["id"],
        "devices",
        {"name": "Desk", "owner_id": user["id"], "sip": {"username": "bob100", "password": "secret1"}},
    )
    listing = master.get(f"accounts/{sub['id']}/devices?filter_owner_id={user['id']}").json()
    assert [d["id"] for d in listing["data"]] == [device["id"]]
    assert listing["status"] == "success" and listing["page_size"] == 1
