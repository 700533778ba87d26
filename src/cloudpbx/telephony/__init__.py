"""Call control on the SIP stack: registrar, device authentication, the B2BUA and its legs, bridging, conversations."""
