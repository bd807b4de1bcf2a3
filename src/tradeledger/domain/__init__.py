"""Domain layer: trade accounting, orders and lock rules in plain Python (no SQLAlchemy)."""
