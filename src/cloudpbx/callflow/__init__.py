"""The callflow engine: routing a dialled number to a callflow and running its actions on a call."""
