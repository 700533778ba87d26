"""SIP: the RFC 3261 stack (transport, messages, transactions, dialogs, digest); it imports nothing of the platform."""
