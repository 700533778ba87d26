"""Services over stored documents: the account tree, document kinds, logins, limits, media, CDRs."""
