import sys

from bench.sidebyside.run import main

sys.exit(main(sys.argv[1:]))
