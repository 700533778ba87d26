"""Payments: one gateway interface (`gateway.py`) with the `local` gateway (manual credits only, the default) and
Braintree (`braintree_gateway.py`), chosen by system config (`settings.py`); `charges.py` turns a gateway's sale or
refund into the `payments` ledger entry, once per idempotency key."""
