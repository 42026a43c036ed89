"""`python -m facelab` (and `torchrun -m facelab`) run the CLI."""

from facelab.cli import main

if __name__ == "__main__":
    main()
