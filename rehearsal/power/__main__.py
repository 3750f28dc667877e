import sys

from rehearsal.power.power_cli import main

sys.exit(main())
