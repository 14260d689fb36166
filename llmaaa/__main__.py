import sys

from llmaaa.cli import main

sys.exit(main())
