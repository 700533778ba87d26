"""The account document types and what is particular to each: unique keys, hashing, references."""

from __future__ import annotations

from cloudpbx.accounts import callflows, devices, patterns
from cloudpbx.accounts.credentials import apply_password
from cloudpbx.accounts.documents import Kind, UniqueField
from cloudpbx.accounts.media import MEDIA
from cloudpbx.accounts.resources import RESOURCE
from cloudpbx.errors import Invalid
from cloudpbx.numbers import registry
from cloudpbx.numbers.classifiers import normalize
from cloudpbx.store import Doc, Tx, is_id, keys

CALLFLOW_ACTIONS = frozenset(
    {
        "after_bridge",
        "answer",
        "audio_macro",
        "branch_bnumber",
        "branch_variable",
        "call_forward",
        "call_waiting",
        "callflow",
        "camping_feature",
        "check_cid",
        "cidlistmatch",
        "collect_dtmf",
        "conference",
        "conference_feature",
        "dead_air",
        "device",
        "directory",
        "disa",
        "do_not_disturb",
        "dynamic_cid",
        "eavesdrop",
        "eavesdrop_feature",
        "edr",
        "fax_detect",
        "faxbox",
        "flush_dtmf",
        "function",
        "group",
        "group_pickup",
        "group_pickup_feature",
        "hangup",
        "hotdesk",
        "intercept",
        "intercept_feature",
        "intercom",
        "language",
        "lookupcidname",
        "manual_presence",
        "menu",
        "missed_call_alert",
        "move",
        "nomorobo",
        "noop",
        "notification",
        "offnet",
        "page_group",
        "park",
        "pivot",
        "play",
        "prepend_cid",
        "privacy",
        "receive_fax",
        "record_call",
        "record_caller",
        "resources",
        "response",
        "ring_group",
        "ring_group_toggle",
        "route_to_cid",
        "send_dtmf",
        "set",
        "set_alert_info",
        "set_cid",
        "set_variable",
        "set_variables",
        "skel",
        "sleep",
        "temporal_route",
        "transfer",
        "tts",
        "user",
        "voicemail",
        "wait_for_hangup",
        "webhook",
        "qubicle",
        "acdc_member",
    }
)

# Which document type an action's `data.id` must name, for actions that point at one.
ACTION_TARGETS = {
    "device": "device",
    "user": "user",
    "callflow": "callflow",
    "voicemail": "vmbox",
    "conference": "conference",
    "menu": "menu",
    "group": "group",
    "faxbox": "faxbox",
    "directory": "directory",
    "temporal_route": None,
}


async def _references(tx: Tx, account_id: str, refs: dict[str, tuple[str, str]]) -> None:
    """Ids that a document names must be documents of the expected type in the same account."""
    found = await tx.get_many(account_id, [ident for ident, _ in refs.values() if is_id(ident)])
    errors = {}
    for path, (ident, doc_type) in refs.items():
        doc = found.get(ident)
        if doc is None or doc.get("pvt_type") != doc_type:
            errors[path] = {"not_found": {"message": f"{doc_type} {ident} not found in this account", "cause": ident}}
    if errors:
        raise Invalid(errors)


# users --------------------------------------------------------------------------------------------------------------


async def _prepare_user(tx: Tx, account_id: str, doc: Doc, old: Doc | None) -> None:
    """Lowercase the username; turn a new password into sealed login hashes; never store the password."""
    patterns.check_document(doc)
    password = doc.pop("password", None)
    if "username" in doc:
        doc["username"] = doc["username"].lower()
    username = doc.get("username")
    if old is not None and username != old.get("username") and password is None and old.get("pvt_md5_auth"):
        if username:
            raise Invalid.field("password", "required", "A new password is required when the username changes")
        doc.pop("pvt_md5_auth", None)
        doc.pop("pvt_sha1_auth", None)
    if password is not None:
        if not username:
            raise Invalid.field("username", "required", "A username is required to set a password")
        await apply_password(doc, account_id, password)


def _user_keys(account_id: str, doc: Doc) -> list[keys.Key]:
    held = []
    if doc.get("username"):
        held.append(keys.username(account_id, doc["username"]))
    if doc.get("pvt_md5_auth"):
        held.append(keys.credentials("md5", account_id, doc["pvt_md5_auth"]))
        held.append(keys.credentials("sha", account_id, doc["pvt_sha1_auth"]))
    return held


USER = Kind(
    name="users",
    type="user",
    prepare=_prepare_user,
    keys=_user_keys,
    summary=(
        "id",
        "first_name",
        "last_name",
        "username",
        "email",
        "priv_level",
        "enabled",
        "features",
        "presence_id",
        "timezone",
        "flags",
        "caller_id",
        "appList",
    ),
    unique={keys.USERNAME: UniqueField("username", "The username is already in use")},
)


# devices ------------------------------------------------------------------------------------------------------------


async def _prepare_device(tx: Tx, account_id: str, doc: Doc, old: Doc | None) -> None:
    patterns.check_document(doc)
    if doc.get("owner_id"):
        await _references(tx, account_id, {"owner_id": (doc["owner_id"], "user")})


def _device_keys(account_id: str, doc: Doc) -> list[keys.Key]:
    """SIP credentials are unique per realm; realms are unique per account, so the account id stands for it."""
    held = []
    username = devices.sip_username(doc)
    if username:
        held.append(keys.sip(account_id, username))
    if doc.get("mac_address"):
        held.append(keys.mac_address(doc["mac_address"]))
    return held


DEVICE = Kind(
    name="devices",
    type="device",
    prepare=_prepare_device,
    keys=_device_keys,
    summary=("id", "name", "device_type", "enabled", "owner_id", "mac_address", "flags"),
    unique={
        keys.SIP: UniqueField("sip.username", "SIP credentials already in use"),
        keys.MAC_ADDRESS: UniqueField("mac_address", "MAC address already in use"),
    },
)


# callflows ----------------------------------------------------------------------------------------------------------


def _walk(node: dict, path: str):
    yield path, node
    for key, child in (node.get("children") or {}).items():
        if isinstance(child, dict):
            yield from _walk(child, f"{path}.children.{key}")


def _flow_references(flow: dict) -> tuple[Doc, dict[str, tuple[str, str]]]:
    errors: Doc = {}
    refs: dict[str, tuple[str, str]] = {}
    for path, node in _walk(flow, "flow"):
        module, data = node.get("module"), node.get("data") or {}
        if module not in CALLFLOW_ACTIONS:
            errors[f"{path}.module"] = {"enum": {"message": f"Unknown callflow action '{module}'", "value": module}}
            continue
        target = ACTION_TARGETS.get(module)
        if target and is_id(data.get("id")):
            refs[f"{path}.data.id"] = (data["id"], target)
        if module == "ring_group":
            for i, member in enumerate(data.get("endpoints") or []):
                kind = {"user": "user", "device": "device", "group": "group"}.get(member.get("endpoint_type"))
                if kind and is_id(member.get("id")):
                    refs[f"{path}.data.endpoints.{i}.id"] = (member["id"], kind)
    return errors, refs


async def _prepare_callflow(tx: Tx, account_id: str, doc: Doc, old: Doc | None) -> None:
    """At least one number or pattern; numbers normalised; patterns RE2 runs; actions and their targets exist."""
    doc["numbers"] = [normalize(n) if n != "no_match" else n for n in doc.get("numbers", [])]
    if "" in doc["numbers"]:  # only white space: nothing a caller could dial, and no storable key
        raise Invalid.field("numbers", "minLength", "Callflow numbers must not be blank")
    if not doc["numbers"] and not doc.get("patterns"):
        raise Invalid.field("numbers", "required", "Callflows must be assigned at least one number or pattern")
    errors = patterns.callflow_errors(doc)
    refs: dict[str, tuple[str, str]] = {}
    if isinstance(doc.get("flow"), dict):
        flow_errors, refs = _flow_references(doc["flow"])
        errors.update(flow_errors)
    if errors:
        raise Invalid(errors)
    await _references(tx, account_id, refs)
    await registry.check_ownership(tx, account_id, doc["numbers"])
    released = set(old.get("numbers", [])) - set(doc["numbers"]) if old else set()
    await registry.set_used_by(tx, account_id, sorted(released), "")
    await registry.set_used_by(tx, account_id, doc["numbers"], "callflow")
    await patterns.count_and_mark(tx, account_id, doc, old)


async def _release_callflow(tx: Tx, account_id: str, doc: Doc) -> None:
    await registry.set_used_by(tx, account_id, callflows.numbers(doc), "")
    await patterns.released(tx, account_id, doc)


def _callflow_keys(account_id: str, doc: Doc) -> list[keys.Key]:
    return [keys.cf_number(account_id, n) for n in callflows.numbers(doc)] + [
        keys.cf_pattern(account_id, p) for p in callflows.patterns(doc)
    ]


def callflow_summary(doc: Doc) -> Doc:
    """Listing row with the modules used in the flow, as KAZOO's callflow listing has."""
    flow = doc.get("flow") if isinstance(doc.get("flow"), dict) else None
    return {
        "modules": sorted({n.get("module") for _, n in _walk(flow, "flow")}) if flow else [],
        "featurecode": doc.get("featurecode", False),
    }


CALLFLOW = Kind(
    name="callflows",
    type="callflow",
    prepare=_prepare_callflow,
    keys=_callflow_keys,
    on_delete=_release_callflow,
    computed=callflow_summary,
    summary=(
        "id",
        "name",
        "type",
        "numbers",
        "patterns",
        "featurecode",
        "owner_id",
        "group_id",
        "flags",
        "ui_is_main_number_cf",
        "ui_metadata",
    ),
    unique={
        keys.CF_NUMBER: UniqueField("numbers", "Number already exists in another callflow"),
        keys.CF_PATTERN: UniqueField("patterns", "Pattern already exists in another callflow"),
    },
)


# the rest -----------------------------------------------------------------------------------------------------------


async def _prepare_owned(tx: Tx, account_id: str, doc: Doc, old: Doc | None) -> None:
    if doc.get("owner_id"):
        await _references(tx, account_id, {"owner_id": (doc["owner_id"], "user")})


async def _prepare_group(tx: Tx, account_id: str, doc: Doc, old: Doc | None) -> None:
    endpoints = doc.get("endpoints") or {}
    refs = {f"endpoints.{ident}": (ident, (member or {}).get("type", "user")) for ident, member in endpoints.items()}
    await _references(tx, account_id, refs)


VMBOX = Kind(
    name="vmboxes",
    type="vmbox",
    prepare=_prepare_owned,
    keys=lambda account_id, doc: [keys.mailbox(account_id, doc["mailbox"])],
    summary=("id", "name", "mailbox", "owner_id", "type", "flags"),
    unique={keys.MAILBOX: UniqueField("mailbox", "Mailbox number already in use")},
)

PLAIN = [
    Kind(name="groups", type="group", prepare=_prepare_group, summary=("id", "name", "endpoints", "music_on_hold")),
    Kind(name="conferences", type="conference", prepare=_prepare_owned),
    Kind(name="faxboxes", type="faxbox", prepare=_prepare_owned),
    Kind(name="menus", type="menu", prepare=patterns.check_menu),
    Kind(name="temporal_rules", type="temporal_rule"),
    Kind(name="temporal_rules_sets", type="temporal_rule_set"),
    MEDIA,
    Kind(name="directories", type="directory"),
    Kind(name="alerts", type="alert"),
    Kind(name="external_numbers", type="external_number"),
]

KINDS: dict[str, Kind] = {kind.name: kind for kind in [USER, DEVICE, CALLFLOW, VMBOX, RESOURCE, *PLAIN]}
