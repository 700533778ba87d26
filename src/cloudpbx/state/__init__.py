"""Live state that is not stored as documents: registrations and channels (in memory on one node)."""
