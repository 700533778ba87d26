"""Money: ledgers and balances (and, beside them, rating and billing)."""
