"""``python -m molpt`` runs the command-line interface (through the allocator launcher)."""

from molpt.cli.launcher import main

if __name__ == "__main__":
    main()
