"""The planning maths: pure functions over DataFrames and arrays (no store, no terminal)."""
