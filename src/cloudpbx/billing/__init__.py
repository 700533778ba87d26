"""Money: rate decks and rating (per-minute prices of numbers), the per-minute cost formula, ledgers and balances."""
