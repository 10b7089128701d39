import sys

from bench.workers.run import main

sys.exit(main(sys.argv[1:]))
