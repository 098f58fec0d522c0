"""The bottom floor: basics every other floor shares (imports nothing of the project)."""
