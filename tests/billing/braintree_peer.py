"""A Braintree gateway for the tests: the parts of Braintree's XML-over-HTTP protocol the platform's SDK calls use
(customers, payment methods, addresses, sales, refunds, transaction search), on 127.0.0.1, like the SIPp carrier
is a phone network. It keeps what it is sent in memory, keeps every request body (so a test can see that a card
number reached the gateway and nothing else), declines every sale on the card `DECLINING` as Braintree's sandbox
does ("2000 Do Not Honor"), and can be told to stall its answers to sales (the sale is done, the answer late)."""

from __future__ import annotations

import argparse
import base64
import itertools
import re
import threading
import time
import xml.etree.ElementTree as ET
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MERCHANT, PUBLIC_KEY, PRIVATE_KEY = "cloudpbx-merchant", "public-key-1", "private-key-1"
GOOD_CARD, DECLINING = "4111111111111111", "4000111111111115"
BRANDS = {"4": "Visa", "5": "MasterCard", "3": "American Express", "6": "Discover"}
NOW = "2026-12-01T10:00:00Z"


def luhn(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def parse(body: bytes) -> dict[str, Any]:
    """The SDK's request XML as a dict (tags keep their underscores; arrays become lists)."""
    if not body.strip():
        return {}
    root = ET.fromstring(body)
    return {root.tag: _node(root)}


def _node(el: ET.Element) -> Any:
    if el.get("type") == "array":
        return [_node(child) for child in el]
    if len(el) == 0:
        text = el.text or ""
        return text == "true" if el.get("type") == "boolean" else text
    return {child.tag: _node(child) for child in el}


def render(tag: str, value: Any) -> str:
    """One element of an answer, dashed as Braintree writes them, with the type attributes the SDK reads."""
    name = tag.replace("_", "-")
    if value is None:
        return f'<{name} nil="true"/>'
    if isinstance(value, bool):
        return f'<{name} type="boolean">{str(value).lower()}</{name}>'
    if isinstance(value, int):
        return f'<{name} type="integer">{value}</{name}>'
    if isinstance(value, list):
        return f'<{name} type="array">' + "".join(render(t, v) for t, v in value) + f"</{name}>"
    if isinstance(value, dict):
        return f"<{name}>" + "".join(render(k, v) for k, v in value.items()) + f"</{name}>"
    if tag.endswith("_at"):
        return f'<{name} type="datetime">{value}</{name}>'
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<{name}>{text}</{name}>"


def invalid(scope: str, code: str, attribute: str, message: str) -> tuple[int, str]:
    errors = {"errors": [], scope: {"errors": [("error", {"code": code, "attribute": attribute, "message": message})]}}
    return 422, render("api_error_response", {"errors": errors, "message": message})


class BraintreePeer:
    def __init__(self, port: int = 0) -> None:
        self.customers: dict[str, dict[str, Any]] = {}
        self.cards: dict[str, dict[str, Any]] = {}
        self.numbers: dict[str, str] = {}  # card token → the number it was created with (the gateway keeps it)
        self.addresses: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, dict[str, Any]] = {}
        self.bodies: list[bytes] = []
        self.stall_sales_s = 0.0
        self.garble_sales = False  # make the sale, answer something that is not XML
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> BraintreePeer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sales(self, customer_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [t for t in self.transactions.values() if t["customer_id"] == customer_id and t["type"] == "sale"]

    def _id(self) -> str:
        return f"bt{next(self.ids):06d}"

    def _handler(self):
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                peer.bodies.append(body)
                expected = base64.b64encode(f"{PUBLIC_KEY}:{PRIVATE_KEY}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    status, text = 401, ""
                else:
                    prefix = f"/merchants/{MERCHANT}/"
                    path = self.path.split("?")[0]
                    found = (
                        peer.route(self.command, path[len(prefix) :], parse(body)) if path.startswith(prefix) else None
                    )
                    status, text = found or (404, "")
                data = (f'<?xml version="1.0" encoding="UTF-8"?>\n{text}' if text else "").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        return Handler

    def route(self, verb: str, path: str, body: dict[str, Any]) -> tuple[int, str] | None:
        parts = path.strip("/").split("/")
        with self.lock:
            match verb, parts:
                case "GET", ["customers", cid]:
                    return (200, render("customer", self._customer(cid))) if cid in self.customers else None
                case "POST", ["customers"]:
                    return self._create_customer(body["customer"])
                case "PUT", ["customers", cid] if cid in self.customers:
                    self.customers[cid].update(body.get("customer") or {})
                    return 200, render("customer", self._customer(cid))
                case "POST", ["payment_methods"]:
                    return self._create_card(body["credit_card"])
                case "GET", ["payment_methods", "credit_card", token] if token in self.cards:
                    return 200, render("credit_card", self.cards[token])
                case "DELETE", ["payment_methods", "credit_card", token] if token in self.cards:
                    del self.cards[token]
                    return 200, ""
                case "POST", ["customers", cid, "addresses"] if cid in self.customers:
                    address = {**body["address"], "id": self._id()[-6:], "customer_id": cid, "created_at": NOW}
                    self.addresses[address["id"]] = address
                    return 201, render("address", address)
                case "DELETE", ["customers", cid, "addresses", aid] if (
                    self.addresses.get(aid, {}).get("customer_id") == cid
                ):
                    del self.addresses[aid]
                    return 200, ""
                case "POST", ["transactions"]:
                    return self._sale(body["transaction"])
                case "GET", ["transactions", tid] if tid in self.transactions:
                    return 200, render("transaction", self._transaction(tid))
                case "POST", ["transactions", tid, "refund"] if tid in self.transactions:
                    return self._refund(tid, (body.get("transaction") or {}).get("amount"))
                case "POST", ["transactions", "advanced_search_ids"]:
                    ids = [("item", tid) for tid in self._search(body["search"])]
                    return 200, render("search_results", {"page_size": 50, "ids": ids})
                case "POST", ["transactions", "advanced_search"]:
                    wanted = set(body["search"]["ids"])
                    found = "".join(
                        render("transaction", self._transaction(t)) for t in self._search(body["search"]) if t in wanted
                    )
                    return 200, f'<credit-card-transactions type="collection">{found}</credit-card-transactions>'
        return None

    def _customer(self, cid: str) -> dict[str, Any]:
        cards = [("credit_card", c) for c in self.cards.values() if c["customer_id"] == cid]
        addresses = [("address", a) for a in self.addresses.values() if a["customer_id"] == cid]
        return {**self.customers[cid], "credit_cards": cards, "addresses": addresses}

    def _create_customer(self, fields: dict[str, Any]) -> tuple[int, str]:
        cid = fields.get("id") or self._id()
        if cid in self.customers:
            return invalid("customer", "91609", "id", "Customer ID has already been taken.")
        self.customers[cid] = {**fields, "id": cid, "created_at": NOW}
        return 201, render("customer", self._customer(cid))

    def _create_card(self, fields: dict[str, Any]) -> tuple[int, str]:
        number, cid = re.sub(r"\D", "", fields.get("number", "")), fields.get("customer_id", "")
        if cid not in self.customers:
            return invalid("credit_card", "91705", "customer_id", "Customer ID is invalid.")
        if not (12 <= len(number) <= 19 and luhn(number)):
            return invalid("credit_card", "81715", "number", "Credit card number is invalid.")
        month, _, year = (fields.get("expiration_date") or "").partition("/")
        if not (month.isdigit() and 1 <= int(month) <= 12 and len(year) == 4 and year.isdigit()):
            return invalid("credit_card", "81712", "expiration_date", "Expiration date is invalid.")
        token = f"card{self._id()}"
        first = not any(c["customer_id"] == cid for c in self.cards.values())
        if (fields.get("options") or {}).get("make_default"):
            for card in self.cards.values():
                card["default"] = card["default"] and card["customer_id"] != cid
        self.cards[token] = {
            "token": token,
            "customer_id": cid,
            "bin": number[:6],
            "last_4": number[-4:],
            "card_type": BRANDS.get(number[0], "Unknown"),
            "expiration_month": month.zfill(2),
            "expiration_year": year,
            "cardholder_name": fields.get("cardholder_name", ""),
            "default": first or bool((fields.get("options") or {}).get("make_default")),
            "expired": False,
            "created_at": NOW,
        }
        self.numbers[token] = number
        return 201, render("credit_card", self.cards[token])

    def _sale(self, fields: dict[str, Any]) -> tuple[int, str]:
        cid = fields.get("customer_id", "")
        if cid not in self.customers:
            return invalid("transaction", "91510", "customer_id", "Customer ID is invalid.")
        cards = [c for c in self.cards.values() if c["customer_id"] == cid]
        if not cards:
            return invalid("transaction", "91511", "customer_id", "Customer does not have any credit cards.")
        card = next((c for c in cards if c["default"]), cards[0])
        declined = self.numbers[card["token"]] == DECLINING
        tid = self._id()
        self.transactions[tid] = {
            "id": tid,
            "type": "sale",
            "status": "processor_declined" if declined else "submitted_for_settlement",
            "amount": str(Decimal(fields["amount"])),
            "order_id": fields.get("order_id"),
            "customer_id": cid,
            "card": card["token"],
            "refunded": Decimal(0),
            "refunded_transaction_id": None,
            "processor_response_code": "2000" if declined else "1000",
            "processor_response_text": "Do Not Honor" if declined else "Approved",
        }
        stall = self.stall_sales_s
        if stall:
            self.lock.release()
            try:
                time.sleep(stall)
            finally:
                self.lock.acquire()
        transaction = render("transaction", self._transaction(tid))
        if self.garble_sales:
            return 201, "<transaction><id>" + tid
        if declined:
            errors = render("errors", {"errors": []})
            return 422, f"<api-error-response>{errors}<message>Do Not Honor</message>{transaction}</api-error-response>"
        return 201, transaction

    def _refund(self, tid: str, amount: str | None) -> tuple[int, str]:
        sale = self.transactions[tid]
        left = Decimal(sale["amount"]) - sale["refunded"]
        wanted = Decimal(amount) if amount else left
        if sale["status"] == "processor_declined" or wanted > left or wanted <= 0:
            return invalid("transaction", "91521", "amount", "Refund amount is too large.")
        sale["refunded"] += wanted
        rid = self._id()
        self.transactions[rid] = {
            **sale,
            "id": rid,
            "type": "credit",
            "amount": str(wanted),
            "order_id": None,
            "refunded": Decimal(0),
            "refunded_transaction_id": tid,
        }
        return 201, render("transaction", self._transaction(rid))

    def _search(self, criteria: dict[str, Any]) -> list[str]:
        def matches(t: dict[str, Any]) -> bool:
            return all(
                t.get(field) == (criteria.get(field) or {}).get("is")
                for field in ("customer_id", "order_id")
                if field in criteria
            )

        return [tid for tid, t in self.transactions.items() if matches(t)]

    def _transaction(self, tid: str) -> dict[str, Any]:
        t = self.transactions[tid]
        card = self.cards.get(t["card"]) or {"token": t["card"], "last_4": "", "card_type": "", "expired": False}
        shown = {k: v for k, v in t.items() if k not in ("card", "refunded", "customer_id")}
        return {**shown, "customer": {"id": t["customer_id"]}, "credit_card": card, "created_at": NOW}


def main() -> None:
    """Run the peer on its own (`python -m tests.billing.braintree_peer --port 8099`): a stand-in gateway for trying
    the platform's card payments on one machine, as docs/money.md does."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8099)
    peer = BraintreePeer(parser.parse_args().port)
    print(f"Braintree test gateway on {peer.url}", flush=True)
    peer.server.serve_forever()


if __name__ == "__main__":
    main()
