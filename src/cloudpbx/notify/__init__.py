"""Email notifications: templates with account overrides, safe rendering, an outbox delivered through SMTP with
retries. Senders call `send(store, account_id, template_id, data)`."""

from cloudpbx.notify.sending import queue, send

__all__ = ["queue", "send"]
