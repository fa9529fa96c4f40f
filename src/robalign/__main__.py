import sys

from robalign.cli.main import main

sys.exit(main())
