"""`python -m segbridge` runs the CLI."""

from segbridge.cli import main

if __name__ == "__main__":
    main()
