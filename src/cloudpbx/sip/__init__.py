"""SIP: the RFC 3261 stack, registrar and B2BUA."""
