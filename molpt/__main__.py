"""``python -m molpt`` runs the command-line interface."""

from molpt.cli import main

if __name__ == "__main__":
    main()
